@triggers
Feature: Triggers
  The monitor watches every version that serves traffic and records a breach, with its evidence,
  when the users' satisfaction, the latency, the errors or the complaints cross the procedure's
  thresholds: once per episode, as of the clock's now.

  Rule: Satisfaction below 70% over the last 100 rated predictions

    Scenario Outline: satisfaction at and around 70% of 100 rated predictions
      Given v1 is in production
      And v1 has <rated> rated predictions of which <satisfied> are satisfied
      When the monitor evaluates v1
      Then the satisfaction rule is <verdict>
      And the history shows <breaches> satisfaction breaches

      Examples:
        | rated | satisfied | verdict           | breaches |
        | 100   | 69        | breached at 0.69  | 1        |
        | 100   | 70        | ok at 0.7         | 0        |
        | 100   | 71        | ok at 0.71        | 0        |
        | 99    | 0         | not evaluated     | 0        |

    Scenario: a satisfaction breach records its evidence
      Given v1 is in production
      And v1 has 100 rated predictions of which 69 are satisfied
      When the monitor evaluates v1
      Then a satisfaction breach is recorded for v1 with observed 0.69
      And the satisfaction breach records a threshold of 0.7 over a window of 100 predictions

    Scenario: only the last 100 rated predictions count
      Given v1 is in production
      And v1 has 100 rated predictions of which 0 are satisfied, served 2 days ago
      And v1 has 100 rated predictions of which 70 are satisfied
      When the monitor evaluates v1
      Then the satisfaction rule is ok at 0.7

    Scenario: the window follows the predictions' timestamps, not the order they arrive in
      Given v1 is in production
      And v1 has 100 rated predictions of which 100 are satisfied
      And v1 has 31 rated predictions of which 0 are satisfied, served 2 days ago
      When the monitor evaluates v1
      Then the satisfaction rule is ok at 1

    Scenario: predictions without feedback are not rated
      Given v1 is in production
      And v1 has 99 rated predictions of which 0 are satisfied
      And v1 has served 500 predictions in 10 ms
      When the monitor evaluates v1
      Then the satisfaction rule is not evaluated

  Rule: Latency above 1.5 x the baseline over the last 50 ok predictions

    The window is the last 50 ok predictions: failed predictions have no latency and are skipped.

    Scenario Outline: mean latency at and around 1.5 x a 100 ms baseline
      Given v1 is in production with a latency baseline of 100 ms
      And v1 has served <ok> predictions in <ms> ms
      When the monitor evaluates v1
      Then the latency rule is <verdict>
      And the history shows <breaches> latency breaches

      Examples:
        | ok | ms     | verdict              | breaches |
        | 50 | 150    | ok at 150            | 0        |
        | 50 | 150.02 | breached at 150.02   | 1        |
        | 50 | 149.99 | ok at 149.99         | 0        |
        | 49 | 300    | not evaluated        | 0        |
        | 50 | 300    | breached at 300      | 1        |

    Scenario: only the last 50 ok predictions count
      Given v1 is in production with a latency baseline of 100 ms
      And v1 has served 50 predictions in 300 ms
      And v1 has served 50 predictions in 100 ms
      When the monitor evaluates v1
      Then the latency rule is ok at 100

    Scenario: failed predictions are not part of the latency window
      Given v1 is in production with a latency baseline of 100 ms
      And v1 has served 49 predictions in 300 ms
      And v1 has served 10 predictions of which 10 failed
      When the monitor evaluates v1
      Then the latency rule is not evaluated

  Rule: Without a given baseline, the first 200 ok predictions measure it

    Scenario Outline: the baseline is measured from 200 ok predictions
      Given v1 is in production without a latency baseline
      And v1 has served <ok> predictions in 100 ms
      And v1 has served 20 predictions of which 20 failed
      When the monitor evaluates v1
      Then the latency baseline of v1 is <baseline>

      Examples:
        | ok  | baseline     |
        | 199 | not measured |
        | 200 | 100 ms       |

    Scenario: the baseline is the mean of the first 200 ok predictions, not of the latest
      Given v1 is in production without a latency baseline
      And v1 has served 100 predictions in 80 ms
      And v1 has served 100 predictions in 120 ms
      And v1 has served 50 predictions in 151 ms
      When the monitor evaluates v1
      Then the latency baseline of v1 is 100 ms
      And the latency rule is breached at 151

    Scenario: the baseline is measured once
      Given v1 is in production without a latency baseline
      And v1 has served 200 predictions in 100 ms
      And the monitor has evaluated v1
      And v1 has served 200 predictions in 300 ms
      When the monitor evaluates v1 again
      Then the latency rule is breached at 300
      And the history shows 1 BaselineMeasured event
      And the latency baseline of v1 is 100 ms

    Scenario: latency is not evaluated before a baseline exists
      Given v1 is in production without a latency baseline
      And v1 has served 199 predictions in 500 ms
      When the monitor evaluates v1
      Then the latency rule is not evaluated

  Rule: Error rate above 5% over the last 7 days, from 100 predictions

    Scenario Outline: error rate at and around 5%
      Given v1 is in production
      And v1 has served <served> predictions of which <failed> failed
      When the monitor evaluates v1
      Then the error rate rule is <verdict>
      And the history shows <breaches> error rate breaches

      Examples:
        | served | failed | verdict            | breaches |
        | 1000   | 50     | ok at 0.05         | 0        |
        | 1000   | 51     | breached at 0.051  | 1        |
        | 100    | 5      | ok at 0.05         | 0        |
        | 100    | 6      | breached at 0.06   | 1        |
        | 99     | 99     | not evaluated      | 0        |

    Scenario Outline: errors older than 7 days are not counted
      Given v1 is in production
      And v1 has served 100 predictions of which 100 failed, served <age> ago
      And v1 has served 100 predictions of which 5 failed
      When the monitor evaluates v1
      Then the error rate rule is <verdict>

      Examples:
        | age       | verdict            |
        | 167 hours | breached at 0.525  |
        | 168 hours | ok at 0.05         |
        | 8 days    | ok at 0.05         |

  Rule: 20 negative comments in 7 days naming a watched term

    A term matches as a whole word, whatever its case and accents: "flou" is not found in "flouté",
    and "floue" is a term of its own. Only negative answers (0) count, by the time the feedback was given.

    Scenario Outline: negative comments at and around 20
      Given v1 is in production
      And v1 has <count> negative feedbacks commenting "<comment>"
      When the monitor evaluates v1
      Then the negative comments rule is <verdict>

      Examples:
        | count | comment                   | verdict         |
        | 19    | image floue               | ok at 19        |
        | 20    | image floue               | breached at 20  |
        | 20    | c'est flou                | breached at 20  |
        | 20    | FLOUE                     | breached at 20  |
        | 20    | Mauvaïs résultat          | breached at 20  |
        | 20    | Wrong!                    | breached at 20  |
        | 20    | visage flouté             | ok at 0         |
        | 20    | badly lit                 | ok at 0         |
        | 20    | pas terrible              | ok at 0         |

    Scenario: the breach counts the comments per term
      Given v1 is in production
      And v1 has 12 negative feedbacks commenting "image floue"
      And v1 has 8 negative feedbacks commenting "wrong label, it's a 7"
      When the monitor evaluates v1
      Then a negative comments breach is recorded for v1 with observed 20
      And the negative comments breach counts 12 comments with "floue" and 8 with "wrong"

    Scenario Outline: only feedback given in the last 7 days counts
      Given v1 is in production
      And v1 has 20 negative feedbacks commenting "image floue", served <served> ago and rated <rated> ago
      When the monitor evaluates v1
      Then the negative comments rule is <verdict>

      Examples:
        | served  | rated     | verdict         |
        | 8 days  | 8 days    | ok at 0         |
        | 7 days  | 7 days    | ok at 0         |
        | 7 days  | 167 hours | breached at 20  |
        | 10 days | 2 days    | breached at 20  |

    Scenario: positive feedback naming a term does not count
      Given v1 is in production
      And v1 has 20 positive feedbacks commenting "pas flou du tout"
      When the monitor evaluates v1
      Then the negative comments rule is ok at 0

    Scenario: a later positive answer replaces the negative one
      Given v1 is in production
      And v1 has 20 negative feedbacks commenting "image floue", served 1 hour ago
      And those users later say they are satisfied
      When the monitor evaluates v1
      Then the negative comments rule is ok at 0

  Rule: Satisfaction below 70% in one image type, over its last 100 feedback, from 30

    Scenario Outline: a segment at and around its boundaries
      Given v1 is in production
      And v1 has <rated> rated "phone" predictions of which <satisfied> are satisfied
      When the monitor evaluates v1
      Then the image type rule for "phone" is <verdict>

      Examples:
        | rated | satisfied | verdict                |
        | 29    | 0         | not evaluated          |
        | 30    | 20        | breached at 0.666667   |
        | 30    | 21        | ok at 0.7              |
        | 100   | 69        | breached at 0.69       |
        | 100   | 70        | ok at 0.7              |

    Scenario: only the segment's last 100 feedback count
      Given v1 is in production
      And v1 has 100 rated "phone" predictions of which 0 are satisfied, served 2 days ago
      And v1 has 100 rated "phone" predictions of which 70 are satisfied
      When the monitor evaluates v1
      Then the image type rule for "phone" is ok at 0.7

    Scenario: a segment breaches while the global satisfaction is fine
      Given v1 is in production
      And v1 has 100 rated "scan" predictions of which 100 are satisfied
      And v1 has 30 rated "phone" predictions of which 15 are satisfied
      When the monitor evaluates v1
      Then the satisfaction rule is ok at 0.85
      And an image type breach is recorded for v1 on "phone" with observed 0.5
      And the image type rule for "scan" is ok at 1

    Scenario: predictions without an image type form no segment
      Given v1 is in production
      And v1 has 30 rated predictions of which 0 are satisfied
      When the monitor evaluates v1
      Then the monitor reports no image type segment
      And no breach is recorded

  Rule: A breach is recorded once per episode, and its recovery once

    Scenario: re-evaluating an unchanged situation records nothing
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied
      And the monitor has evaluated v1
      When the monitor evaluates v1 again
      Then the satisfaction rule is breached at 0.6
      And the history shows 1 satisfaction breach

    Scenario: a rule that passes again recovers
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied, served 1 day ago
      And the monitor has evaluated v1
      And v1 has 100 rated predictions of which 80 are satisfied
      When the monitor evaluates v1 again
      Then a satisfaction recovery is recorded for v1 with observed 0.8
      And the history shows 1 satisfaction breach

    Scenario: a new episode after a recovery is a new breach
      Given v1 is in production
      And v1 has 100 rated predictions of which 60 are satisfied, served 2 days ago
      And the monitor has evaluated v1
      And v1 has 100 rated predictions of which 80 are satisfied, served 1 day ago
      And the monitor has evaluated v1
      And v1 has 100 rated predictions of which 50 are satisfied
      When the monitor evaluates v1 again
      Then the history shows 2 satisfaction breaches
      And a satisfaction breach is recorded for v1 with observed 0.5

    Scenario: a rule that can no longer be evaluated keeps its episode open
      Given v1 is in production
      And v1 has served 100 predictions of which 10 failed
      And the monitor has evaluated v1
      And 8 days have passed
      When the monitor evaluates v1 again
      Then the error rate rule is not evaluated
      And the history shows 1 error rate breach
      And no error rate recovery is recorded

  Rule: Reinforced monitoring for 7 days after a promotion or a restore

    For 7 days after a version replaces another in production (the end of a rollout, or a restore),
    the satisfaction and image-type windows are 50 (evaluated from 50 and 15) and the latency window 25.
    Registering the first version as production is not a deployment that replaces a model: it is not reinforced.

    Scenario Outline: the reinforced windows last 7 days after a promotion through a rollout
      Given v1 is in production
      And v2 was promoted to production through a rollout
      And <days> days have passed
      And v2 has 50 rated predictions of which 34 are satisfied
      When the monitor evaluates v2
      Then the satisfaction rule is <verdict>

      Examples:
        | days | verdict           |
        | 0    | breached at 0.68  |
        | 6    | breached at 0.68  |
        | 7    | not evaluated     |

    Scenario Outline: the reinforced satisfaction window keeps the last 50 rated predictions
      Given v1 is in production
      And v2 was promoted to production through a rollout
      And 24 hours have passed
      And v2 has 50 rated predictions of which 0 are satisfied, served 1 hour ago
      And v2 has 50 rated predictions of which <satisfied> are satisfied
      When the monitor evaluates v2
      Then the satisfaction rule is <verdict>

      Examples:
        | satisfied | verdict           |
        | 34        | breached at 0.68  |
        | 35        | ok at 0.7         |

    Scenario Outline: the reinforced latency window is 25 ok predictions
      Given v1 is in production
      And v2 was promoted to production through a rollout
      And v2 has served <ok> predictions in 16 ms
      When the monitor evaluates v2
      Then the latency rule is <verdict>

      Examples:
        | ok | verdict          |
        | 24 | not evaluated    |
        | 25 | breached at 16   |

    Scenario Outline: the reinforced image-type window is evaluated from 15
      Given v1 is in production
      And v2 was promoted to production through a rollout
      And v2 has <rated> rated "phone" predictions of which <satisfied> are satisfied
      When the monitor evaluates v2
      Then the image type rule for "phone" is <verdict>

      Examples:
        | rated | satisfied | verdict               |
        | 14    | 0         | not evaluated         |
        | 15    | 10        | breached at 0.666667  |
        | 15    | 11        | ok at 0.733333        |

    Scenario: the reinforced image-type window keeps the segment's last 50 feedback
      Given v1 is in production
      And v2 was promoted to production through a rollout
      And 24 hours have passed
      And v2 has 50 rated "phone" predictions of which 0 are satisfied, served 1 hour ago
      And v2 has 50 rated "phone" predictions of which 35 are satisfied
      When the monitor evaluates v2
      Then the image type rule for "phone" is ok at 0.7

    Scenario: a restored version is under reinforced monitoring
      Given v1 is in production
      And v2 was promoted to production through a rollout
      And v1 was restored to production
      And v1 has 50 rated predictions of which 34 are satisfied
      When the monitor evaluates v1
      Then v1 is under reinforced monitoring
      And the satisfaction rule is breached at 0.68

    Scenario: the first version registered as production is under normal monitoring
      Given v1 is in production
      And v1 has 50 rated predictions of which 34 are satisfied
      When the monitor evaluates v1
      Then v1 is under normal monitoring
      And the satisfaction rule is not evaluated

  Rule: Records timestamped after now are ignored

    Scenario: predictions served after now are not in the window
      Given v1 is in production
      And v1 has 100 rated predictions of which 100 are satisfied
      And v1 has 100 rated predictions of which 0 are satisfied, served 1 hour from now
      When the monitor evaluates v1
      Then the satisfaction rule is ok at 1

    Scenario: feedback given after now is not counted
      Given v1 is in production
      And v1 has 100 rated predictions of which 0 are satisfied, rated 1 hour from now
      When the monitor evaluates v1
      Then the satisfaction rule is not evaluated

    Scenario: errors after now are not counted
      Given v1 is in production
      And v1 has served 100 predictions of which 0 failed
      And v1 has served 100 predictions of which 100 failed, served 1 hour from now
      When the monitor evaluates v1
      Then the error rate rule is ok at 0

    Scenario: latencies after now are not counted
      Given v1 is in production with a latency baseline of 100 ms
      And v1 has served 50 predictions in 100 ms
      And v1 has served 50 predictions in 300 ms, served 1 hour from now
      When the monitor evaluates v1
      Then the latency rule is ok at 100
