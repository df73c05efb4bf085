@campaigns
Feature: Retraining campaigns
  A breach on the production version opens a retraining campaign that carries the breaches as its evidence;
  a version has one open campaign at most, later breaches join it, and a canary's breaches are left to its
  rollout. An operator can also open a campaign by hand, saying why. A campaign that ends without a new version
  (its candidate rejected, too few items) leaves the breaches open: they open the next campaign after the cooldown.

  Rule: A breach on the production version opens a campaign with the breaches that triggered it

    Scenario: a breach opens a campaign
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied
      When the monitor evaluates v1
      Then campaign 1 is opened for v1 by "system:monitor"
      And campaign 1 is triggered by the satisfaction breach observed at 0.6

    Scenario: breaches found together open one campaign with all of them
      Given v1 is in production with a latency baseline of 100 ms
      And v1 has 100 rated predictions of which 60 are satisfied
      And v1 has served 50 predictions in 200 ms
      When the monitor evaluates v1
      Then campaign 1 is triggered by the satisfaction and latency breaches
      And v1 has 1 campaign

    Scenario: an unchanged breach opens its campaign once
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied
      And the monitor has evaluated v1
      When the monitor evaluates v1 again
      Then v1 has 1 campaign
      And no breach is attached to a campaign

  Rule: A new breach while a campaign is open joins it instead of opening another

    Scenario: a second breach joins the open campaign
      Given v1 is in production with a latency baseline of 100 ms
      And v1 has 100 rated predictions of which 60 are satisfied
      And the monitor has evaluated v1
      And v1 has served 50 predictions in 200 ms
      When the monitor evaluates v1 again
      Then the latency breach observed at 200 is attached to campaign 1
      And v1 has 1 campaign

    Scenario: a breach joins a campaign opened by hand
      Given v1 is in production
      And the operator "ops" has opened a campaign by hand because "new phone cameras in the field"
      And v1 has 100 rated "phone" predictions of which 15 are satisfied
      When the monitor evaluates v1
      Then the image type breach observed at 0.15 is attached to campaign 1
      And v1 has 1 campaign

  Rule: Breaches on a canary are handled by its rollout, not by a campaign

    Scenario: a breach on a canary opens no campaign
      Given v1 is in production
      And v2 is being rolled out as a canary
      And v2 has 100 rated predictions of which 60 are satisfied
      When the monitor evaluates v2
      Then a satisfaction breach is recorded for v2 with observed 0.6
      And no campaign is opened

    Scenario: the production version still opens its campaign during a rollout
      Given v1 is in production
      And v2 is being rolled out as a canary
      And v1 has 100 rated predictions of which 60 are satisfied
      And v2 has 100 rated predictions of which 60 are satisfied
      When the monitor evaluates v1
      Then campaign 1 is opened for v1 by "system:monitor"
      And v1 has 1 campaign
      And v2 has 0 campaigns

  Rule: An operator can open a campaign by hand, with a reason; a version has one open campaign at most

    Scenario: an operator opens a campaign by hand
      Given v1 is in production
      When the operator "ops" opens a campaign by hand because "new phone cameras in the field"
      Then campaign 1 is opened for v1 by "user:ops"
      And campaign 1 records the reason "new phone cameras in the field" and no breach

    Scenario: a second campaign by hand is refused while one is open
      Given v1 is in production
      And the operator "ops" has opened a campaign by hand because "new phone cameras in the field"
      When the operator "ops" opens a campaign by hand because "the scans look odd too"
      Then the command is refused with "v1 already has an open campaign"
      And v1 has 1 campaign

    Scenario: a campaign by hand is refused while a breach's campaign is open
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied
      And the monitor has evaluated v1
      When the operator "ops" opens a campaign by hand because "the scans look odd too"
      Then the command is refused with "v1 already has an open campaign"
      And v1 has 1 campaign

  Rule: Once its campaign is abandoned, a version's next breach opens a new campaign

    Scenario: a new breach after an abandoned campaign opens a new one
      Given v1 is in production with a latency baseline of 100 ms
      And v1 has 100 rated predictions of which 60 are satisfied
      And the monitor has evaluated v1
      And campaign 1 has been abandoned because "a data-entry error, not drift"
      And v1 has served 50 predictions in 200 ms
      When the monitor evaluates v1 again
      Then campaign 2 is opened for v1 by "system:monitor"
      And campaign 2 is triggered by the latency breach observed at 200

    Scenario: the abandoned campaign's breach, still open, does not open another
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied
      And the monitor has evaluated v1
      And campaign 1 has been abandoned because "a data-entry error, not drift"
      When the monitor evaluates v1 again
      Then v1 has 1 campaign

    Scenario: a breach that recovers and comes back after an abandoned campaign opens a new one
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied, served 2 days ago
      And the monitor has evaluated v1
      And campaign 1 has been abandoned because "a data-entry error, not drift"
      And v1 has 100 rated predictions of which 80 are satisfied, served 1 day ago
      And the monitor has evaluated v1
      And v1 has 100 rated predictions of which 50 are satisfied
      When the monitor evaluates v1 again
      Then campaign 2 is triggered by the satisfaction breach observed at 0.5

    Scenario: an operator can open a campaign by hand once the previous one is abandoned
      Given v1 is in production
      And the operator "ops" has opened a campaign by hand because "new phone cameras in the field"
      And campaign 1 has been abandoned because "the cameras were recalled"
      When the operator "ops" opens a campaign by hand because "the cameras are back"
      Then campaign 2 is opened for v1 by "user:ops"

  Rule: Breaches still open after a campaign that produced no new version open the next one once the 24-hour cooldown has passed

    Scenario Outline: a breach still open <hours> hours after campaign 1 <ended>
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied
      And the monitor has evaluated v1
      And campaign 1 <ended>
      And <hours> hours have passed
      When the monitor evaluates v1 again
      Then v1 has <campaigns> campaigns

      Examples:
        | ended                                                          | hours | campaigns |
        | ended with its candidate rejected                              | 23    | 1         |
        | ended with its candidate rejected                              | 24    | 2         |
        | ended with its candidate rejected                              | 25    | 2         |
        | ended with too few training items                              | 24    | 2         |
        | has been abandoned because "a data-entry error, not drift"     | 48    | 1         |

    Scenario: the next campaign carries the breaches still open and records the cooldown it waited
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied
      And the monitor has evaluated v1
      And campaign 1 ended with its candidate rejected
      And 24 hours have passed
      When the monitor evaluates v1 again
      Then campaign 2 is opened for v1 by "system:monitor"
      And campaign 2 is triggered by the satisfaction breach observed at 0.6
      And campaign 2 records that it waited 24 hours after campaign 1 ended with outcome candidate_rejected

    Scenario: retrying a campaign whose candidate was rejected says when the next one opens
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied
      And the monitor has evaluated v1
      And campaign 1 ended with its candidate rejected
      When the operator "ops" retries the campaign
      Then the command is refused with "it is completed with outcome candidate_rejected; a new campaign opens on the first tick after the cooldown ends at 2026-01-02T00:00:00+00:00"
      And v1 has 1 campaign

    Scenario: an operator need not wait for the cooldown
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied
      And the monitor has evaluated v1
      And campaign 1 ended with its candidate rejected
      When the operator "ops" opens a campaign by hand because "the rejected candidate was trained on too little"
      Then campaign 2 is opened for v1 by "user:ops"

  Rule: Each campaign step is run by one worker at a time

    Scenario Outline: a claimed step is left to its worker until the claim's 15 minutes have run out
      Given v1 is in production
      And the operator "ops" has opened a campaign by hand because "new phone cameras in the field"
      And the worker "worker:node-a:101" has claimed the curate step of campaign 1
      And <minutes> minutes have passed
      When the worker "worker:node-b:202" advances campaign 1
      Then the history of campaign 1 shows the curate step claimed by <claimants>
      And the history of campaign 1 shows <curations>

      Examples:
        | minutes | claimants                                    | curations     |
        | 14      | "worker:node-a:101"                          | no curation   |
        | 15      | "worker:node-a:101" then "worker:node-b:202" | one curation  |

    Scenario: two workers advancing the same open campaign at once curate it once
      Given v1 is in production
      And the operator "ops" has opened a campaign by hand because "new phone cameras in the field"
      When the workers "worker:node-a:101" and "worker:node-b:202" advance campaign 1 at the same time
      Then the history of campaign 1 shows one claim of the curate step
      And the history of campaign 1 shows one curation
      And neither worker failed

    Scenario: a worker of this machine whose process has exited is replaced at once
      Given v1 is in production
      And the operator "ops" has opened a campaign by hand because "new phone cameras in the field"
      And a worker of this machine has claimed the curate step of campaign 1 and exited
      When the worker "worker:node-b:202" advances campaign 1
      Then the history of campaign 1 shows the curate step claimed by the exited worker then by "worker:node-b:202"
      And the history of campaign 1 shows one curation
