Feature: Privacy
  SPEC section 7: only consented items ever enter a dataset. A user's personal data is erased on request from the
  feedback and blob stores and from the datasets not yet used for training; the report names the datasets and model
  versions that had already learnt from it. Events hold no personal data, so the log never needs rewriting.

  Rule: Only consented items ever enter a dataset, and a comment given without consent is never read

    Scenario: An answer without consent is left out, even with a label in its comment
      Given v1 is in production
      And users answered v1's predictions
        | item    | user  | feedback | consent | comment               |
        | alice-1 | alice | negative | no      | c'est un 7, tout flou |
        | bob-1   | bob   | negative | yes     | c'est un 3            |
      When the feedback of v1 is curated
      Then the dataset leaves out "alice-1"
      And the dataset includes "bob-1"
      And the curation report shows
        | item    | outcome  | reason     | label | label source |
        | alice-1 | excluded | no_consent |       |              |

  Rule: Forgetting a user deletes their predictions, feedback, comments and images from the feedback and blob stores

    Scenario: Nothing of the user remains; other users' data is kept
      Given v1 is in production
      And users answered v1's predictions
        | item    | user  | consent | comment                 | corrected label |
        | alice-1 | alice | yes     | image floue, c'est un 7 |                 |
        | alice-2 | alice | no      | vraiment mauvais        |                 |
        | bob-1   | bob   | yes     |                         | 3               |
      When the operator "olivia" forgets the user "alice"
      Then the report counts 2 predictions, 2 feedback records and 2 images deleted
      And nothing of "alice" remains in the feedback store or the blob store
      And the answer "bob-1" is still stored

  Rule: A dataset not yet used for training is re-written without the user's items, under a new id on its campaign

    Scenario: The curated dataset waiting for training loses the user's items
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And users answered v1's predictions
        | item    | user  | consent | corrected label |
        | alice-1 | alice | yes     | 2               |
      And the feedback of v1 has been curated
      When the operator "olivia" forgets the user "alice"
      Then the campaign records DatasetAmended with a new dataset of 20 items
      And the dataset the campaign will train on leaves out "alice-1"
      And the report lists the campaign's new dataset as amended

  Rule: The report names the datasets and the model versions that already consumed the user's data

    Scenario: A dataset a candidate was trained on is reported, not re-written
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And users answered v1's predictions
        | item    | user  | consent | corrected label |
        | alice-1 | alice | yes     | 2               |
      And a campaign on v1 has trained a candidate that was rejected
      When the operator "olivia" forgets the user "alice"
      Then the report names the dataset v2 was trained on, and v2, as having consumed the user's data
      And no dataset is amended

    Scenario: A user whose items sit in a consumed dataset and in one not yet used
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And users answered v1's predictions
        | item    | user  | consent | corrected label |
        | alice-1 | alice | yes     | 2               |
      And a campaign on v1 has trained a candidate that was rejected
      And users answered v1's predictions
        | item    | user  | consent | corrected label |
        | alice-2 | alice | yes     | 3               |
      And the feedback of v1 has been curated
      When the operator "olivia" forgets the user "alice"
      Then the report names the dataset v2 was trained on, and v2, as having consumed the user's data
      And the report lists the campaign's new dataset as amended, without 2 items
      And the dataset the campaign will train on leaves out "alice-1"
      And the dataset the campaign will train on leaves out "alice-2"
      And nothing of "alice" remains in the feedback store or the blob store

  Rule: The erasure is recorded as ErasureRecorded with counts only, and no event holds personal data

    Scenario: The log names nobody
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And users answered v1's predictions
        | item    | user  | consent | comment                 | confidence |
        | alice-1 | alice | yes     | image floue, c'est un 7 | 0.95       |
      And the feedback of v1 has been curated
      When the operator "olivia" forgets the user "alice"
      Then ErasureRecorded is recorded by "user:olivia" with counts only
      And no stored event holds "alice", her comments or her prediction ids

  Rule: Forgetting a user twice changes nothing the second time

    Scenario: The second erasure finds nothing and records nothing
      Given v1 is in production
      And users answered v1's predictions
        | item    | user  | consent | corrected label |
        | alice-1 | alice | yes     | 7               |
      And the operator "olivia" has forgotten the user "alice"
      When the operator "olivia" forgets the user "alice"
      Then the report counts 0 predictions, 0 feedback records and 0 images deleted
      And ErasureRecorded is recorded once
