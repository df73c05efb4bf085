Feature: The audit trail
  Every decision is an immutable event that carries the clock's time and who took it, so that
  "why is this model in production?" always has an answer backed by evidence, and that answer
  never repeats what users wrote or who they are: only ids, hashes, counts and rates.

  Rule: Every event carries the clock's time and its actor

    Scenario Outline: A decision is recorded at the clock's time with the one who took it
      Given v1 is in production
      And v2 is a validated candidate
      And the clock reads 2026-03-14T09:26:53+00:00
      When <decision>
      Then the history records <event> at 2026-03-14T09:26:53+00:00 by "<actor>"

      Examples:
        | decision                                                         | event             | actor          |
        | v1's users turn unhappy and the monitor evaluates v1             | ThresholdBreached | system:monitor |
        | the rollout of v2 starts                                         | TrafficShifted    | system:rollout |
        | the operator "bob" opens a campaign because "quarterly refresh"  | Opened            | user:bob       |

    Scenario: Every event of a whole retraining story has a time from the clock and an actor
      Given v1 is in production
      And the whole story of v2 has happened: drift on v1, a campaign, review, training, gates and a rollout
      When the history is read
      Then every event shows a time from the clock and an actor

  Rule: The history is shown oldest first, and can be narrowed to a version, a campaign, a period, or a past moment

    Scenario: The whole history, oldest first
      Given v1 is in production
      And the whole story of v2 has happened: drift on v1, a campaign, review, training, gates and a rollout
      When the history is read
      Then the events are shown oldest first, from v1's registration to v2's promotion

    Scenario: The history of a version includes the rollouts it took part in
      Given v1 is in production
      And the whole story of v2 has happened: drift on v1, a campaign, review, training, gates and a rollout
      When the history of v2 is read
      Then every event shown concerns v2, by name or as a party to its rollout
      And the events shown are ModelVersion.Registered, RetrainCampaign.CandidateTrained, ModelVersion.CandidateValidated, Rollout.Started, Rollout.TrafficShifted, ModelVersion.CanaryStarted, Rollout.TrafficShifted, Rollout.TrafficShifted, Rollout.Completed, ModelVersion.Superseded, ModelVersion.Promoted

    Scenario: The history of the stable version shows its breaches and the rollout that superseded it
      Given v1 is in production
      And the whole story of v2 has happened: drift on v1, a campaign, review, training, gates and a rollout
      When the history of v1 is read
      Then every event shown concerns v1, by name or as a party to its rollout
      And the events shown include ModelVersion.ThresholdBreached, RetrainCampaign.Opened, Rollout.Started, Rollout.TrafficShifted, ModelVersion.Superseded
      And the events shown exclude ModelVersion.CandidateValidated, ModelVersion.CanaryStarted

    Scenario: The history of a campaign runs from its opening to its candidate's rollout
      Given v1 is in production
      And the whole story of v2 has happened: drift on v1, a campaign, review, training, gates and a rollout
      When the history of campaign 1 is read
      Then the events shown include RetrainCampaign.Opened, RetrainCampaign.DatasetCurated, RetrainCampaign.ReviewDecided, RetrainCampaign.StrategyChosen, ModelVersion.Registered, ModelVersion.CandidateValidated, RetrainCampaign.Completed, Rollout.Started, Rollout.Completed
      And the events shown exclude ModelVersion.ThresholdBreached, ModelVersion.Superseded

    Scenario: The history since a moment starts at that moment
      Given v1 is in production
      And the whole story of v2 has happened: drift on v1, a campaign, review, training, gates and a rollout
      When the history since 2026-01-02T01:00:00+00:00 is read
      Then no event shown is earlier than 2026-01-02T01:00:00+00:00
      And the events shown are Rollout.TrafficShifted, Rollout.TrafficShifted, Rollout.Completed, ModelVersion.Superseded, ModelVersion.Promoted

    Scenario Outline: The history as of a past moment shows what was known then
      Given v1 is in production
      And the whole story of v2 has happened: drift on v1, a campaign, review, training, gates and a rollout
      When the history as of <moment> is read
      Then no event shown is later than <moment>
      And the last traffic shift shown goes from <from>% to <to>%

      Examples:
        | moment                    | from | to  |
        | 2026-01-02T00:59:59+00:00 | 0    | 10  |
        | 2026-01-02T01:00:00+00:00 | 10   | 50  |
        | 2026-01-05T00:00:00+00:00 | 50   | 100 |

    Scenario: The history of an unknown version is refused
      Given v1 is in production
      When someone asks for the history of v9
      Then the command is refused with "no model version 'v9'"

  Rule: explain tells why a version exists: breaches, campaign, dataset, training, gates, rollout steps

    Scenario: Why v2 is in production
      Given v1 is in production
      And the whole story of v2 has happened: drift on v1, a campaign, review, training, gates and a rollout
      When someone asks to explain v2
      Then the explanation tells the breaches, the campaign, the dataset, the training, the gates and the rollout, in that order
      And it names the image_type breach of v1 observed at 0 against 0.7
      And it names the dataset of 60 items, 140 excluded for lack of consent
      And it names the full training strategy and the 3 gates passed
      And its rollout steps go 0% -> 10% -> 50% -> 100%

    Scenario: A breach that joined the campaign later is told among the breaches
      Given v1 is in production
      And the whole story of v2 has happened, with an error-rate breach joining the campaign during its review
      When someone asks to explain v2
      Then the explanation tells the breaches, the campaign, the dataset, the training, the gates and the rollout, in that order
      And it names the error_rate breach of v1 observed at 0.2 against 0.05

    Scenario: The first version was registered, not trained by a campaign
      Given v1 is in production
      When someone asks to explain v1
      Then the explanation of v1 has no campaign and tells its registration as production

  Rule: Events never contain personal data: no comment text, no image bytes, no user_ref

    Scenario: Named users' comments and references stay out of every event
      Given v1 is in production
      And the whole story of v2 has happened: drift on v1, a campaign, review, training, gates and a rollout
      When the history is read
      Then no event contains a comment, a user reference or image bytes
