Feature: Human review of critical items
  The procedure's "validation humaine": critical curated items (labels read from comments, confident mistakes,
  rare classes) wait for a reviewer, who approves them, possibly with another label, or rejects them. Every
  decision is recorded with its reviewer, and the campaign trains only once every critical item is decided.

  Rule: A campaign with critical items waits in awaiting_review

    Scenario: Critical items wait and nothing is trained meanwhile
      Given v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      When the campaign is advanced
      Then the campaign awaits review of "a, b, c"
      And no training has started

  Rule: Each decision is recorded with its reviewer

    Scenario: A reviewer approves an item
      Given v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      When reviewer "alice" approves "a"
      Then the history records that "user:alice" approved "a"
      And the review list shows "a" approved with the label "7"
      And the campaign awaits review of "b, c"

    Scenario: A reviewer approves an item with another label
      Given v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      When reviewer "alice" approves "a" with the label "1"
      Then the history records that "user:alice" approved "a" with the label "1"
      And the review list shows "a" approved with the label "1"
      And the curation report shows
        | item | outcome  | label | label source | review   |
        | a    | selected | 1     | comment      | approved |

    Scenario: A reviewer rejects an item
      Given v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      When reviewer "bob" rejects "b"
      Then the history records that "user:bob" rejected "b"
      And the review list shows "b" rejected with the label "8"
      And the curation report shows
        | item | outcome  | label | label source | review   |
        | a    | selected | 7     | comment      | pending  |
        | b    | selected | 8     | comment      | rejected |
      And the campaign awaits review of "a, c"

  Rule: The campaign moves on only when every critical item is decided

    Scenario: The last decision completes the review
      Given v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      And reviewer "alice" has approved "a"
      And reviewer "bob" has rejected "b"
      When reviewer "alice" approves "c" with the label "4"
      Then the review is completed by "user:alice" with 2 approved and 1 rejected

    Scenario: Training uses the reviewed dataset
      Given v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      And reviewer "alice" has approved "a"
      And reviewer "bob" has rejected "b"
      And reviewer "alice" has approved "c" with the label "4"
      When the campaign is advanced
      Then training uses "a" labelled "7"
      And training uses "c" labelled "4"
      And training leaves out "b"

    Scenario: Two decisions out of three leave the campaign waiting
      Given v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      And reviewer "alice" has approved "a"
      And reviewer "bob" has rejected "b"
      When the campaign is advanced
      Then the campaign awaits review of "c"
      And no training has started

  Rule: With review.required = false the critical items are accepted as they are

    Scenario: The review is skipped and recorded as automatic
      Given review is not required
      And v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      When the campaign is advanced
      Then the review is completed automatically, without any decision
      And training uses "a" labelled "7"
      And training uses "c" labelled "9"

  Rule: A decision on an unknown item, a second decision, or a label that is not a class is refused

    Scenario: Deciding an item that is not in the review is refused
      Given v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      When reviewer "alice" approves "z"
      Then the command is refused with "has no review item z"
      And the history records 0 review decisions

    Scenario Outline: Deciding an item twice is refused (<second>)
      Given v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      And reviewer "alice" has approved "a"
      When reviewer "bob" <second> "a"
      Then the command is refused with "already decided"
      And the history records 1 review decisions
      And the review list shows "a" approved with the label "7"

      Examples:
        | second   |
        | approves |
        | rejects  |

    Scenario: Deciding again once the review is complete is refused
      Given v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      And reviewer "alice" has approved "a"
      And reviewer "alice" has approved "b"
      And reviewer "alice" has approved "c"
      When reviewer "bob" rejects "c"
      Then the command is refused with "already decided"
      And the history records 3 review decisions

    Scenario: Approving with a label that is not one of the classes is refused
      Given v1 is in production
      And the feedback of v1 was curated with the items "a, b, c" labelled in comments
      When reviewer "alice" approves "a" with the label "cat"
      Then the command is refused with "not one of the version's classes"
      And the history records 0 review decisions
