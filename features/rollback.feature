Feature: Rollback and backups ("sauvegarde systématique")
  Every version's artifact is kept, so that a version which served production before can serve it again at once.
  A rollback names its reason, demotes the current version, restores the former one and watches it closely.

  Rule: Rolling back to a former production version makes it production at once, with reinforced monitoring

    Scenario: The previous version is restored and the current one rolled back
      Given v1 is in production
      And v2 replaced v1 in production through a rollout
      When the operator "alice" rolls back to v1 because "misclassifies scans"
      Then v1 is the production version
      And the history shows v2 RolledBack by "user:alice" because "misclassifies scans"
      And the history shows v1 Restored by "user:alice" because "misclassifies scans", replacing v2

    Scenario Outline: A restored version is monitored with reinforced windows for 7 days
      Given v1 is in production
      And v2 replaced v1 in production through a rollout
      And the operator "alice" rolled back to v1 because "misclassifies scans"
      And <days> days have passed
      And v1 has served 120 rated predictions of which 100 are satisfied since
      When the monitor evaluates the serving versions
      Then v1 is monitored <how>: satisfaction over its last <window> rated predictions is <observed>

      Examples:
        | days | how                | window | observed |
        | 0    | with reinforcement | 50     | 0.6      |
        | 6    | with reinforcement | 50     | 0.6      |
        | 7    | as usual           | 100    | 0.8      |

    Scenario: A rollback during a rollout also ends the rollout
      Given v1 is in production
      And v2 replaced v1 in production through a rollout
      And v3 is rolled out at 10% against v2
      When the operator "alice" rolls back to v1 because "both new versions misbehave"
      Then v1 is the production version
      And v2 is rolled back
      And v3 is rolled back
      And the rollout's end records its health at that moment
      And no rollout is active

  Rule: Only a version that was in production before, and is not now, can be restored, and only for a reason

    Scenario Outline: A version that cannot be restored is refused
      Given v1 is in production
      And v2 replaced v1 in production through a rollout
      And v3 is a <kind> candidate
      When the operator "alice" rolls back to <target> because "trying"
      Then the command is refused with "<refusal>"
      And v2 is the production version

      Examples:
        | kind      | target | refusal                                            |
        | validated | v3     | cannot restore v3: it has never been in production |
        | rejected  | v3     | cannot restore v3: it has never been in production |
        | validated | v2     | cannot restore v2: it is already in production     |

    Scenario: A candidate rolled back during its rollout was never production and cannot be restored
      Given v1 is in production
      And v2 is rolled out at 10% against v1
      And the operator "alice" aborted the rollout because "bad feedback"
      When the operator "alice" rolls back to v2 because "second thoughts"
      Then the command is refused with "never been in production"
      And v1 is the production version

    Scenario: A rollback needs a reason
      Given v1 is in production
      And v2 replaced v1 in production through a rollout
      When the operator "alice" rolls back to v1 without a reason
      Then the command is refused with "a reason is required"
      And v2 is the production version

  Rule: Every model version's artifact is kept; nothing is deleted automatically

    Scenario: After promotions and rollbacks every artifact still verifies
      Given v1 is in production
      And v2 replaced v1 in production through a rollout
      And v3 is rolled out at 10% against v2
      And the operator "alice" aborted the rollout because "bad feedback"
      When the operator "alice" rolls back to v1 because "back to basics"
      Then the artifacts of v1, v2 and v3 all verify
