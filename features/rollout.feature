Feature: Progressive rollout ("déploiement progressif")
  A validated candidate earns production on evidence: 10% of the traffic for 24 hours, 50% for 48 hours, then all.
  Each phase compares the candidate with the stable version serving the same period, with intervals that stay valid
  however often they are looked at, and a check showing the candidate confidently worse sends all traffic back to
  the stable version at once.

  Rule: A validated candidate starts a rollout at 10% against the production version

    Scenario: A validated candidate takes 10% of the traffic
      Given v1 is in production
      And v2 is a validated candidate
      When the rollout of v2 starts
      Then the rollout status shows v2 at 10% against v1 in phase 1, active
      And the history shows the rollout Started with the plan 10% for 24 hours, then 50% for 48 hours
      And the history shows traffic shifted from 0% to 10% by "system:rollout"

    Scenario Outline: Only a validated candidate can be rolled out
      Given v1 is in production
      And v2 is a <kind> candidate
      When the rollout of v2 starts
      Then the command is refused with "<refusal>"
      And no rollout is active

      Examples:
        | kind            | refusal                              |
        | rejected        | cannot roll out v2: it is rejected   |
        | never validated | cannot roll out v2: it is registered |

  Rule: A user sees one version for a whole phase: bucket = sha256(rollout id + key)[:8] mod 10,000, candidate iff bucket < percent x 100

    Scenario: The same user is served by the same version all phase long
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      When user "u-0042" sends a request every hour of the phase
      Then every request of user "u-0042" is served by the same version

    Scenario: About a tenth of the users meet the candidate in the first phase
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      When 2000 different users send a request
      Then between 8% and 12% of them are served by v2

    Scenario Outline: The bucket decides at the boundary of the phase's percent
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      When a <caller> whose bucket is <bucket> sends a request
      Then the request is served by <version>

      Examples:
        | caller                     | bucket | version |
        | user                       | 999    | v2      |
        | user                       | 1000   | v1      |
        | caller without a user_ref  | 999    | v2      |
        | caller without a user_ref  | 1000   | v1      |

  Rule: Phase health compares the candidate with the stable version in the same phase, with always-valid intervals, and a check that shows the candidate confidently worse rolls back at once

    Scenario Outline: Satisfaction rolls back only a candidate confidently less satisfying than the stable version
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase v1 has 3000 rated predictions of which 2250 are satisfied
      And in this phase v2 has <rated> rated predictions of which <satisfied> are satisfied
      When the rollout is checked
      Then the rollout <outcome>

      Examples:
        | rated | satisfied | outcome                                |
        | 300   | 225       | continues at 10%                       |
        | 300   | 201       | continues at 10%                       |
        | 300   | 200       | is rolled back because of satisfaction |
        | 29    | 0         | continues at 10%                       |

    Scenario Outline: Errors roll back only a candidate confidently more error-prone than the stable version
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase v1 has 2000 predictions of which 40 failed
      And in this phase v2 has <predictions> predictions of which <errors> failed
      When the rollout is checked
      Then the rollout <outcome>

      Examples:
        | predictions | errors | outcome                              |
        | 300         | 6      | continues at 10%                     |
        | 300         | 27     | continues at 10%                     |
        | 300         | 28     | is rolled back because of error_rate |
        | 49          | 49     | continues at 10%                     |

    Scenario Outline: Latency rolls back a candidate confidently beyond 1.5 x the stable version's, from 50 predictions each
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase v1 has <stable count> predictions with a mean latency of <stable ms> ms
      And in this phase v2 has <count> predictions with a mean latency of <ms> ms
      When the rollout is checked
      Then the rollout <outcome>

      Examples:
        | stable count | stable ms | count | ms    | outcome                           |
        | 50           | 10        | 50    | 15    | continues at 10%                  |
        | 50           | 10        | 50    | 15.01 | is rolled back because of latency |
        | 50           | 10        | 49    | 40    | continues at 10%                  |
        | 49           | 10        | 50    | 40    | continues at 10%                  |

    Scenario: One image type confidently worse rolls back even when the whole is fine
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase v1 has 2800 rated "scan" predictions of which 2250 are satisfied
      And in this phase v1 has 1200 rated "phone" predictions of which 900 are satisfied
      And in this phase v2 has 280 rated "scan" predictions of which 240 are satisfied
      And in this phase v2 has 120 rated "phone" predictions of which 60 are satisfied
      When the rollout is checked
      Then the rollout is rolled back because of satisfaction/phone

    Scenario Outline: The 70% floor rolls back a candidate confidently below it, unless it is confidently better than the stable version or the stable version is below it too
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase v1 has <stable rated> rated predictions of which <stable satisfied> are satisfied
      And in this phase v2 has <rated> rated predictions of which <satisfied> are satisfied
      When the rollout is checked
      Then the rollout <outcome>

      Examples:
        | stable rated | stable satisfied | rated | satisfied | outcome                                      |
        | 3000         | 2250             | 2000  | 1200      | is rolled back because of satisfaction_floor |
        | 3000         | 1800             | 2000  | 1200      | continues at 10%                             |
        | 9000         | 5040             | 3000  | 1980      | continues at 10%                             |

    Scenario: A rollback keeps production on the stable version and records its evidence
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase v1 has 600 rated predictions of which 480 are satisfied
      And in this phase v2 has 60 rated predictions of which 20 are satisfied
      When the rollout is checked 3 hours into the phase
      Then the rollout is rolled back because of satisfaction
      And v2 is rolled back with the phase's evidence by "system:rollout"
      And v1 is the production version
      And every request is served by v1

    Scenario: Predictions of an earlier phase do not count
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase v2 has 29 rated predictions of which 0 are satisfied
      And the operator "alice" promoted the rollout now because "enough seen"
      And in this phase v1 has 300 rated predictions of which 225 are satisfied
      And in this phase v2 has 300 rated predictions of which 225 are satisfied
      When the rollout is checked
      Then the rollout continues at 50%

  Rule: A healthy phase moves on at its end: 10% to 50% after 24 hours, 50% to 100% after 48 hours

    Scenario Outline: The first phase lasts 24 hours
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase both versions serve healthy traffic
      When the rollout is checked <hours> hours into the phase
      Then the rollout continues at <percent>%

      Examples:
        | hours | percent |
        | 23.9  | 10      |
        | 24    | 50      |

    Scenario: The first phase's end is recorded with its evidence
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase both versions serve healthy traffic
      When the rollout is checked 24 hours into the phase
      Then the history shows traffic shifted from 10% to 50% by "system:rollout"
      And that shift records the phase's satisfaction, error rate and latency

    Scenario Outline: The second phase lasts 48 hours, then the candidate is promoted
      Given v1 is in production
      And v2 has reached 50% of the traffic against v1
      And in this phase both versions serve healthy traffic
      When the rollout is checked <hours> hours into the phase
      Then v2 is <state>

      Examples:
        | hours | state                  |
        | 47    | a canary               |
        | 48    | the production version |

    Scenario: A completed rollout promotes the candidate and keeps the previous version
      Given v1 is in production
      And v2 has reached 50% of the traffic against v1
      And in this phase both versions serve healthy traffic
      When the rollout is checked 48 hours into the phase
      Then the history shows traffic shifted from 50% to 100% by "system:rollout"
      And v2 is the production version
      And v1 is superseded
      And the rollout is completed
      And no rollout is active

    Scenario: Two processes ticking at the same moment record the transition once
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase both versions serve healthy traffic
      When two processes check the rollout 24 hours into the phase at the same moment
      Then the history shows 1 traffic shift from 10% to 50%
      And the rollout continues at 50%

  Rule: Not enough samples at a phase's end extends it once; at twice its duration the rollout pauses for an operator

    Scenario: Too little traffic at the end of a phase extends it
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase too little traffic has been served
      When the rollout is checked 24 hours into the phase
      Then the phase is extended once
      And the rollout continues at 10%

    Scenario: An extended phase moves on at the first tick with enough evidence
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And the phase was extended for lack of evidence
      And in this phase both versions serve healthy traffic
      When the rollout is checked 30 hours into the phase
      Then the rollout continues at 50%

    Scenario Outline: Without enough evidence, the rollout pauses at twice the phase's duration
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And the phase was extended for lack of evidence
      When the rollout is checked <hours> hours into the phase
      Then the phase is extended once
      And the rollout <outcome>

      Examples:
        | hours | outcome                               |
        | 36    | continues at 10%                      |
        | 47.9  | continues at 10%                      |
        | 48    | is paused for "insufficient_evidence" |

  Rule: Operators pause, resume (the phase's clock restarts), abort (a rollback with a reason) and promote now (one phase, with a reason)

    Scenario: A paused rollout holds and the stable version serves everyone
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      When the operator "alice" pauses the rollout because "holiday freeze"
      Then the rollout is paused for "holiday freeze"
      And the history shows the rollout Paused by "user:alice"
      And every request is served by v1

    Scenario: Time does not move a paused rollout
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And in this phase both versions serve healthy traffic
      And the operator "alice" paused the rollout because "holiday freeze"
      When the rollout is checked 30 hours into the phase
      Then the rollout status shows v2 at 10% against v1 in phase 1, paused

    Scenario: Resuming restarts the phase's clock
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And 10 hours have passed
      And the operator "alice" paused the rollout because "investigating"
      And the operator "alice" resumed the rollout because "all clear"
      And in this phase both versions serve healthy traffic
      When the rollout is checked 24 hours after it started
      Then the rollout continues at 10%
      And the phase started when the rollout was resumed

    Scenario: Aborting rolls the candidate back with the operator's reason
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      When the operator "alice" aborts the rollout because "complaints from the support team"
      Then the rollout is rolled back because of "complaints from the support team"
      And the history shows traffic shifted from 10% to 0% by "user:alice"
      And v1 is the production version

    Scenario Outline: Promote-now advances exactly one phase, with the operator's reason
      Given v1 is in production
      And v2 has reached <from>% of the traffic against v1
      When the operator "alice" promotes the rollout now because "urgent fix needed"
      Then the history shows traffic shifted from <from>% to <to>% by "user:alice"
      And that shift records the reason "urgent fix needed"

      Examples:
        | from | to  |
        | 10   | 50  |
        | 50   | 100 |

    Scenario: Promote-now on a rollout paused for lack of evidence resumes it and advances it
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And the rollout paused for lack of evidence
      When the operator "alice" promotes the rollout now because "traffic is low on weekends"
      Then the rollout continues at 50%
      And the history shows the rollout Resumed by "user:alice"

    Scenario Outline: Operator commands need a reason
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      When the operator "alice" <command> the rollout without a reason
      Then the command is refused with "a reason is required"
      And the rollout continues at 10%

      Examples:
        | command     |
        | pauses      |
        | aborts      |
        | promotes    |

  Rule: Illegal transitions are refused

    Scenario: A completed rollout cannot shift traffic any more
      Given v1 is in production
      And v2 has been rolled out to all of the traffic
      When the operator "alice" promotes the rollout now because "one more step"
      Then the command is refused with "no rollout is active"
      And the rollout is completed

    Scenario: Only one rollout at a time
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And v3 is a validated candidate
      When the rollout of v3 starts
      Then the command is refused with "a rollout is already active"
      And the rollout status shows v2 at 10% against v1 in phase 1, active
