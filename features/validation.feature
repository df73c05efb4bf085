Feature: Validation of the candidate against its parent
  The procedure's "tests de validation": parent and candidate are measured side by side, and the candidate
  must be strictly better on the validation set, lose at most one point on the original test set, and stay
  within 1.5 times the parent's latency. Each gate needs enough items to be measured, or it rejects the candidate
  as not measurable. Each accuracy gate also records how the two models differ on the same items (McNemar's
  p-value, the 95% interval of the difference). The verdict is recorded with every figure; a rejected candidate
  never serves.

  Rule: The trained candidate is measured side by side with its parent, and the verdict follows the three gates

    Scenario: A fine-tuned candidate is judged with every figure
      Given v1 is in production
      And v1 has 40 clearly labelled answers
      And a campaign was opened by hand on v1
      When the campaign is advanced
      Then v2 is judged against v1 with every figure measured side by side

  Rule: Validation accuracy must be strictly greater than the parent's

    Scenario Outline: Validation accuracy <candidate> against the parent's 0.80
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v1 measures a validation accuracy of 0.80, a test accuracy of 0.97 and a latency of 2 ms
      And side by side, v2 measures a validation accuracy of <candidate>, a test accuracy of 0.97 and a latency of 2 ms
      When the campaign is advanced
      Then <verdict>

      Examples:
        | candidate | verdict                                                     |
        | 0.81      | v2 is validated against v1 with every figure                |
        | 0.80      | v2 is rejected against v1 for failing "validation_accuracy" |
        | 0.79      | v2 is rejected against v1 for failing "validation_accuracy" |

  Rule: Test accuracy may be at most one point below the parent's

    Scenario Outline: Test accuracy <candidate> against the parent's <parent>
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v1 measures a validation accuracy of 0.80, a test accuracy of <parent> and a latency of 2 ms
      And side by side, v2 measures a validation accuracy of 0.85, a test accuracy of <candidate> and a latency of 2 ms
      When the campaign is advanced
      Then <verdict>
      And the test_regression gate records parent <parent>, candidate <candidate> and limit <limit>

      Examples:
        | parent | candidate | limit | verdict                                                 |
        | 0.97   | 0.98      | 0.96  | v2 is validated against v1 with every figure            |
        | 0.97   | 0.96      | 0.96  | v2 is validated against v1 with every figure            |
        | 0.97   | 0.959     | 0.96  | v2 is rejected against v1 for failing "test_regression" |
        | 0.10   | 0.09      | 0.09  | v2 is validated against v1 with every figure            |
        | 0.10   | 0.089     | 0.09  | v2 is rejected against v1 for failing "test_regression" |

  Rule: Latency may be at most 1.5 times the parent's

    Scenario Outline: Latency <candidate> ms against the parent's <parent> ms
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v1 measures a validation accuracy of 0.80, a test accuracy of 0.97 and a latency of <parent> ms
      And side by side, v2 measures a validation accuracy of 0.85, a test accuracy of 0.97 and a latency of <candidate> ms
      When the campaign is advanced
      Then <verdict>
      And the latency gate records parent <parent>, candidate <candidate> and limit <limit>

      Examples:
        | parent | candidate | limit | verdict                                         |
        | 2      | 3         | 3     | v2 is validated against v1 with every figure    |
        | 0.7    | 1.05      | 1.05  | v2 is validated against v1 with every figure    |
        | 2      | 3.01      | 3     | v2 is rejected against v1 for failing "latency" |
        | 0.7    | 1.06      | 1.05  | v2 is rejected against v1 for failing "latency" |

  Rule: No image type with at least 50 validation items may lose more than two points

    Scenario Outline: scan at <candidate> against the parent's 0.95 on <items> items, while phone is repaired
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v1 measures a validation accuracy of 0.80, a test accuracy of 0.97 and a latency of 2 ms
      And side by side, v2 measures a validation accuracy of 0.85, a test accuracy of 0.97 and a latency of 2 ms
      And on 60 phone validation items, v1 measures an accuracy of 0.40 and v2 of 0.90
      And on <items> scan validation items, v1 measures an accuracy of 0.95 and v2 of <candidate>
      When the campaign is advanced
      Then <verdict>

      Examples:
        | items | candidate | verdict                                                              |
        | 50    | 0.96      | v2 is validated against v1 with every figure                         |
        | 50    | 0.93      | v2 is validated against v1 with every figure                         |
        | 50    | 0.929     | v2 is rejected against v1 for failing "segment_regression/scan"      |
        | 200   | 0.80      | v2 is rejected against v1 for failing "segment_regression/scan"      |
        | 49    | 0.80      | v2 is validated against v1 with every figure                         |

    Scenario: The segment gates record each type's figures
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And on 60 phone validation items, v1 measures an accuracy of 0.40 and v2 of 0.90
      And on 50 scan validation items, v1 measures an accuracy of 0.95 and v2 of 0.90
      When the campaign is advanced
      Then v2 is rejected against v1 for failing "validation_accuracy, segment_regression/scan"
      And the segment_regression/phone gate records parent 0.40, candidate 0.90 and limit 0.38
      And the segment_regression/scan gate records parent 0.95, candidate 0.90 and limit 0.93

  Rule: Each accuracy gate records the paired comparison of parent and candidate on the same items

    Scenario: The validation, test and image type gates record McNemar's p-value and the interval of the difference
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v1 measures a validation accuracy of 0.80, a test accuracy of 0.97 and a latency of 2 ms
      And side by side, v2 measures a validation accuracy of 0.90, a test accuracy of 0.97 and a latency of 2 ms
      And on the 100 validation items, v1 alone is right on 2 and v2 alone on 12
      And on the 100 test items, v1 alone is right on 3 and v2 alone on 3
      And on 60 phone validation items, v1 measures an accuracy of 0.40 and v2 of 0.90
      When the campaign is advanced
      Then v2 is validated against v1 with every figure
      And the validation_accuracy gate records the paired comparison of 100 items, 2 right only by v1 and 12 only by v2
      And the test_regression gate records the paired comparison of 100 items, 3 right only by v1 and 3 only by v2
      And the segment_regression/phone gate records the paired comparison of 60 items, 0 right only by v1 and 30 only by v2
      And the latency gate records no paired comparison

  Rule: With require_significance, the validation accuracy gate also needs the 95% interval of the difference above 0
    By default the procedure's literal rule stands (candidate > parent). With validation.require_significance, a
    candidate better by too few items is rejected as not significant. Counts of items never give a lower bound of
    exactly 0; the rule's unit tests check that 0 itself is not above 0.

    Scenario Outline: <only_v1> items right only by v1, <only_v2> only by v2: a lower bound <bound>
      Given validation requires significance
      And v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v1 measures a validation accuracy of 0.80, a test accuracy of 0.97 and a latency of 2 ms
      And side by side, v2 measures a validation accuracy of <candidate>, a test accuracy of 0.97 and a latency of 2 ms
      And on the 100 validation items, v1 alone is right on <only_v1> and v2 alone on <only_v2>
      When the campaign is advanced
      Then <verdict>
      And the validation_accuracy gate records a lower bound of <low> for the difference

      Examples:
        | only_v1 | only_v2 | candidate | bound               | low      | verdict                                                                        |
        | 0       | 4       | 0.84      | above 0             | 0.0015   | v2 is validated against v1 with every figure                                   |
        | 8       | 18      | 0.90      | just above 0        | 0.000065 | v2 is validated against v1 with every figure                                   |
        | 3       | 10      | 0.87      | just below 0        | -0.0008  | v2 is rejected against v1 for failing "validation_accuracy" as not significant |
        | 0       | 3       | 0.83      | below 0             | -0.0081  | v2 is rejected against v1 for failing "validation_accuracy" as not significant |
        | 20      | 20      | 0.80      | below 0, not better | -0.125   | v2 is rejected against v1 for failing "validation_accuracy"                    |

    Scenario: Without require_significance, a candidate better by too few items is still validated
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v1 measures a validation accuracy of 0.80, a test accuracy of 0.97 and a latency of 2 ms
      And side by side, v2 measures a validation accuracy of 0.87, a test accuracy of 0.97 and a latency of 2 ms
      And on the 100 validation items, v1 alone is right on 3 and v2 alone on 10
      When the campaign is advanced
      Then v2 is validated against v1 with every figure
      And the validation_accuracy gate records a lower bound of -0.0008 for the difference

  Rule: A rejection names each failed gate with its figures

    Scenario: A candidate failing all three gates
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v1 measures a validation accuracy of 0.80, a test accuracy of 0.97 and a latency of 2 ms
      And side by side, v2 measures a validation accuracy of 0.75, a test accuracy of 0.90 and a latency of 4 ms
      When the campaign is advanced
      Then v2 is rejected against v1 for failing "validation_accuracy, test_regression, latency"
      And the validation_accuracy gate records parent 0.80, candidate 0.75 and limit 0.80
      And the test_regression gate records parent 0.97, candidate 0.90 and limit 0.96
      And the latency gate records parent 2, candidate 4 and limit 3

  Rule: Every gate needs its items: 100 on the original test set, 20 on the validation set, or it is not measurable

    Scenario Outline: An original test set of <test> items
      Given v1 is in production with an original test set of <test> items
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v2 measures a validation accuracy of 0.85, a test accuracy of 0.97 and a latency of 1 ms
      When the campaign is advanced
      Then <verdict>

      Examples:
        | test | verdict                                                                                    |
        | 100  | v2 is validated against v1 with every figure                                               |
        | 99   | v2 is rejected against v1 as not measurable: "test_regression" on 99 test items of at least 100 |

    Scenario Outline: <curated> curated and <original> original validation items
      Given v1 is in production with an original validation set of <original> items
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And the curated validation split holds <curated> items
      And side by side, v2 measures a validation accuracy of 0.85, a test accuracy of 0.97 and a latency of 1 ms
      When the campaign is advanced
      Then <verdict>

      Examples:
        | curated | original | verdict                                                                                              |
        | 20      | 0        | v2 is validated against v1 with every figure                                                         |
        | 19      | 0        | v2 is rejected against v1 as not measurable: "validation_accuracy" on 19 validation items of at least 20 |
        | 4       | 15       | v2 is rejected against v1 as not measurable: "validation_accuracy" on 19 validation items of at least 20 |
        | 5       | 15       | v2 is validated against v1 with every figure                                                         |

    Scenario: A version registered without original datasets has nothing to check regressions on
      Given v1 is in production without original datasets
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v2 measures a validation accuracy of 0.85, a test accuracy of 0.97 and a latency of 1 ms
      When the campaign is advanced
      Then v2 is rejected against v1 as not measurable: "test_regression" on 0 test items of at least 100
      And no test_accuracy was computed for either model

    Scenario: Once an original test set is attached, the next campaign's candidate is measured and validated
      Given v1 is in production without original datasets
      And v1 has 20 clearly labelled answers ready for training
      And a campaign on v1 has trained a candidate that was rejected
      And an original dataset of 0 training, 80 validation and 100 test items has been attached to v1
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v3 measures a validation accuracy of 0.85, a test accuracy of 0.97 and a latency of 1 ms
      When the campaign is advanced
      Then v3 is validated against v1 with every figure

  Rule: A rejected candidate can be neither rolled out nor made production

    Scenario: Rolling out a rejected candidate is refused
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v1 measures a validation accuracy of 0.80, a test accuracy of 0.97 and a latency of 2 ms
      And side by side, v2 measures a validation accuracy of 0.80, a test accuracy of 0.97 and a latency of 2 ms
      And the campaign has been advanced
      When the rollout of v2 starts
      Then the command is refused with "cannot roll out v2: it is rejected"
      And no rollout is active

    Scenario: Making a rejected candidate production is refused
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And side by side, v1 measures a validation accuracy of 0.80, a test accuracy of 0.97 and a latency of 2 ms
      And side by side, v2 measures a validation accuracy of 0.80, a test accuracy of 0.97 and a latency of 2 ms
      And the campaign has been advanced
      When the operator "olivia" rolls back to v2 because "we want the new model"
      Then the command is refused with "cannot restore v2"
      And v1 is the production version
