Feature: Strategy and training of the candidate
  "Fine-tuning ciblé" or "ré-entraînement complet": full retraining when the drift is major, the new data is
  significant or fine-tunes have piled up; targeted fine-tuning otherwise. The choice, its reasons and every
  training attempt are recorded, and a failed or interrupted training can be retried.

  Rule: Full retraining when a triggering satisfaction or image-type breach was observed below 0.50

    Scenario Outline: Satisfaction observed at <observed>
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And v1 has 100 rated predictions of which <satisfied> are satisfied
      And the monitor has evaluated v1
      When the campaign is advanced
      Then the strategy chosen is <strategy> for the reasons "<reasons>"

      Examples:
        | satisfied | observed | strategy  | reasons     |
        | 49        | 0.49     | full      | major_drift |
        | 50        | 0.50     | fine_tune | none        |
        | 69        | 0.69     | fine_tune | none        |

    Scenario Outline: The "phone" images satisfied at <observed> while the overall rate is fine
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And v1 has 100 rated "phone" predictions of which <satisfied> are satisfied
      And v1 has 100 rated "scan" predictions of which 100 are satisfied
      And the monitor has evaluated v1
      When the campaign is advanced
      Then the strategy chosen is <strategy> for the reasons "<reasons>"

      Examples:
        | satisfied | observed | strategy  | reasons     |
        | 49        | 0.49     | full      | major_drift |
        | 50        | 0.50     | fine_tune | none        |

    Scenario: The reason names the breach and its observed rate
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And v1 has 100 rated "phone" predictions of which 30 are satisfied
      And v1 has 100 rated "scan" predictions of which 100 are satisfied
      And the monitor has evaluated v1
      When the campaign is advanced
      Then a reason names the image_type breach observed at 0.3

  Rule: Full retraining when the curated items reach 20% of the original training set

    Scenario Outline: <curated> curated items against an original training set of <original>
      Given v1 is in production with an original training set of <original> items
      And v1 has <curated> clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      When the campaign is advanced
      Then the strategy chosen is <strategy> for the reasons "<reasons>"

      Examples:
        | curated | original | strategy  | reasons              |
        | 199     | 1000     | fine_tune | none                 |
        | 200     | 1000     | full      | significant_new_data |
        | 20      | 100      | full      | significant_new_data |

  Rule: Full retraining after 3 fine-tunes in a row since the last full retraining

    Scenario Outline: <production> after the trainings <trainings>
      Given <production> is in production after the trainings "<trainings>" since v1
      And <production> has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on <production>
      When the campaign is advanced
      Then the strategy chosen is <strategy> for the reasons "<reasons>"

      Examples:
        | production | trainings                              | strategy  | reasons          |
        | v3         | fine_tune, fine_tune                   | fine_tune | none             |
        | v4         | fine_tune, fine_tune, fine_tune        | full      | fine_tune_streak |
        | v5         | fine_tune, fine_tune, full, fine_tune  | fine_tune | none             |
        | v5         | full, fine_tune, fine_tune, fine_tune  | full      | fine_tune_streak |

  Rule: Full retraining needs the lineage's original training set: without one, it fine-tunes and records full_unavailable

    Scenario: A major drift on a version registered without original datasets
      Given v1 is in production without original datasets
      And v1 has 20 clearly labelled answers ready for training
      And v1 has 100 rated predictions of which 30 are satisfied
      And the monitor has evaluated v1
      When the campaign is advanced
      Then the strategy chosen is fine_tune for the reasons "major_drift, full_unavailable"
      And training started with the fine_tune strategy, attempt 1

    Scenario: Once a training set is attached, a major drift calls for full retraining again
      Given v1 is in production without original datasets
      And an original dataset of 1000 training, 80 validation and 100 test items has been attached to v1
      And v1 has 20 clearly labelled answers ready for training
      And v1 has 100 rated predictions of which 30 are satisfied
      And the monitor has evaluated v1
      When the campaign is advanced
      Then the strategy chosen is full for the reasons "major_drift"
      And training started with the full strategy, attempt 1

    Scenario: Forcing full retraining without an original training set is refused
      Given v1 is in production without original datasets
      And the feedback of v1 was curated with the items "a" labelled in comments
      When the operator "olivia" forces full retraining
      Then the command is refused with "full retraining needs the lineage's original training set and v1 has none: attach one with `retrain model datasets v1 --train DIR`"
      And no strategy is recorded for the campaign

  Rule: An operator may force either strategy, and the choice is recorded as forced

    Scenario: Forcing fine-tuning despite a major drift
      Given v1 is in production
      And v1 has 100 rated predictions of which 30 are satisfied
      And the monitor has evaluated v1
      And the feedback of v1 was curated with the items "a" labelled in comments
      When the operator "olivia" forces fine-tuning
      Then the strategy is forced to fine_tune by "user:olivia", still recording the reasons "major_drift"

    Scenario: The forced strategy is the one trained once the review is done
      Given v1 is in production
      And the feedback of v1 was curated with the items "a" labelled in comments
      And the operator "olivia" has forced full retraining
      And reviewer "alice" has approved "a"
      When the campaign is advanced
      Then the strategy is forced to full by "user:olivia", still recording the reasons "none"
      And training started with the full strategy, attempt 1

    Scenario: Forcing a strategy that does not exist is refused
      Given v1 is in production
      And the feedback of v1 was curated with the items "a" labelled in comments
      When the operator "olivia" forces transfer learning
      Then the command is refused with "strategy must be one of fine_tune, full"

  Rule: Training records TrainingStarted, then CandidateTrained with the candidate version it registers

    Scenario: A campaign trains its candidate
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      When the campaign is advanced
      Then the history shows the campaign's training as StrategyChosen, TrainingStarted, CandidateTrained
      And training started with the fine_tune strategy, attempt 1
      And v2 is registered as the candidate trained from v1 with the fine_tune strategy

  Rule: A failed training records TrainingFailed and the campaign can be retried

    Scenario: The trainer fails
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And the trainer fails with "CUDA out of memory"
      When the campaign is advanced
      Then training failed with a RuntimeError and the campaign is failed
      And the recorded failure does not quote "CUDA out of memory"
      And no candidate is registered

    Scenario: A failed campaign waits for an operator rather than retrying by itself
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And the trainer fails with "CUDA out of memory"
      And the campaign has been advanced
      And the trainer works again
      When the system ticks an hour later
      Then the campaign's state is failed
      And no candidate is registered

    Scenario: An operator retries a failed training
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And the trainer fails with "CUDA out of memory"
      And the campaign has been advanced
      And the trainer works again
      When the operator "olivia" retries the campaign
      Then the history shows the campaign's training as StrategyChosen, TrainingStarted, TrainingFailed, TrainingStarted, CandidateTrained
      And training started with the fine_tune strategy, attempt 2
      And v2 is registered as the candidate trained from v1 with the fine_tune strategy

    Scenario: A campaign left training by a killed process can be retried
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And the process was killed while the campaign was training
      When the operator "olivia" retries the campaign
      Then attempt 1 is recorded as failed with "interrupted"
      And training started with the fine_tune strategy, attempt 2
      And v2 is registered as the candidate trained from v1 with the fine_tune strategy

    Scenario: A campaign that has not failed cannot be retried
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      When the operator "olivia" retries the campaign
      Then the command is refused with "cannot retry campaign 1: it is open"
