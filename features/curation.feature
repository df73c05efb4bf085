Feature: Curation of user feedback into a training set
  The procedure's "extraction des données de feedback": only consented, negative feedback that names a label
  and carries a usable image becomes training data; every other answer is excluded for exactly one reason.
  The dataset is split by image hash and named by the sha256 of its manifest, so the same data is the same dataset.

  Rule: An answer is selected when it has consent at curation time, negative latest feedback and a user label

    Scenario: A consented negative answer with a corrected label is selected
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | feedback | consent | corrected label |
        | a    | 5         | negative | yes     | 3               |
      When the feedback of v1 is curated
      Then the dataset labels "a" as "3" from the corrected label

    Scenario: Without a corrected label, the label comes from the comment
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | feedback | consent | comment                   |
        | a    | 5         | negative | yes     | image floue, c'est un 7   |
      When the feedback of v1 is curated
      Then the dataset labels "a" as "7" from the comment

    Scenario: The corrected label wins over a label in the comment
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | corrected label | comment    |
        | a    | 5         | 3               | c'est un 7 |
      When the feedback of v1 is curated
      Then the dataset labels "a" as "3" from the corrected label

    Scenario: A later feedback without consent withdraws the answer
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | feedback | consent | corrected label |
        | a    | 5         | negative | yes     | 3               |
      And the user who answered "a" later answers again without consent
      When the feedback of v1 is curated
      Then the answer is excluded as no_consent

    Scenario: Consent given in a later feedback counts at curation time
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | feedback | consent | corrected label |
        | a    | 5         | negative | no      | 3               |
      And the user who answered "a" later answers again with consent
      When the feedback of v1 is curated
      Then the dataset labels "a" as "3" from the corrected label

    Scenario: Only the latest feedback counts: a negative answer later turned positive is not selected
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | feedback | consent | corrected label |
        | a    | 5         | negative | yes     | 3               |
      And the user who answered "a" later answers again satisfied
      When the feedback of v1 is curated
      Then the answer is excluded as not_negative

  Rule: The candidates are all the feedback of the campaign's version, and earlier versions' feedback since the last dataset used for training

    Scenario: A new campaign on the same version curates all its feedback again
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign on v1 has trained a candidate that was rejected
      When the feedback of v1 is curated
      Then the dataset counts 20 items included

    Scenario: The parent's feedback counts only when given after the dataset its campaign used
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | corrected label |
        | old  | 5         | 3               |
      And v1 has 20 clearly labelled answers ready for training
      And a campaign on v1 has trained v2, which then replaced v1 in production
      And users answered v1's predictions
        | item | predicted | corrected label |
        | new  | 5         | 3               |
      When the feedback of v2 is curated
      Then the dataset includes "new"
      And the dataset leaves out "old"
      And the dataset counts 1 items included

  Rule: Each exclusion has exactly one reason, the first that applies in the order no_consent, not_negative, no_label, corrupted, inconsistent, duplicate

    Scenario Outline: <case> is excluded as <reason>
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | feedback   | consent   | corrected label | comment   | image   | answered   |
        | a    | 5         | <feedback> | <consent> | <label>         | <comment> | <image> | <answered> |
      When the feedback of v1 is curated
      Then the answer is excluded as <reason>

      Examples:
        | case                                   | feedback | consent | label | comment     | image        | answered | reason       |
        | an answer without consent              | negative | no      | 3     |             |              | after    | no_consent   |
        | a satisfied answer                     | positive | yes     | 3     |             |              | after    | not_negative |
        | a comment without a label              | negative | yes     |       | image floue |              | after    | no_label     |
        | an answer without an image             | negative | yes     | 3     |             | none         | after    | corrupted    |
        | an image missing from the store        | negative | yes     | 3     |             | missing      | after    | corrupted    |
        | bytes that are not an image            | negative | yes     | 3     |             | not an image | after    | corrupted    |
        | a constant image                       | negative | yes     | 3     |             | constant     | after    | corrupted    |
        | a truncated PNG                        | negative | yes     | 3     |             | truncated    | after    | corrupted    |
        | an image whose checksum does not match | negative | yes     | 3     |             | tampered     | after    | corrupted    |
        | a corrected label that is not a class  | negative | yes     | 12    |             |              | after    | inconsistent |
        | a label equal to the prediction        | negative | yes     | 5     |             |              | after    | inconsistent |
        | feedback earlier than the prediction   | negative | yes     | 3     |             |              | before   | inconsistent |
        | no consent and satisfied               | positive | no      | 3     |             |              | after    | no_consent   |
        | no consent and no label                | negative | no      |       |             | none         | after    | no_consent   |
        | satisfied and no label                 | positive | yes     |       |             |              | after    | not_negative |
        | satisfied and a corrupted image        | positive | yes     | 3     |             | not an image | after    | not_negative |
        | no label and a corrupted image         | negative | yes     |       | c'est flou  | not an image | after    | no_label     |
        | a corrupted image and a foreign label  | negative | yes     | 12    |             | constant     | after    | corrupted    |
        | no image and feedback too early        | negative | yes     | 3     |             | none         | before   | corrupted    |

    Scenario Outline: The same image selected twice keeps the latest answer, "<kept>"
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | corrected label | image | answered   |
        | a    | 5         | 3               | img-1 | <answer a> |
        | b    | 5         | 3               | img-1 | <answer b> |
      When the feedback of v1 is curated
      Then the dataset includes "<kept>"
      And the dataset leaves out "<left out>"
      And the dataset counts the exclusions "no_consent=0, not_negative=0, no_label=0, corrupted=0, inconsistent=0, duplicate=1"

      Examples:
        | answer a | answer b | kept | left out |
        | later    | after    | a    | b        |
        | after    | later    | b    | a        |

    Scenario: An image that carries two different user labels is inconsistent, not duplicate
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | corrected label | image |
        | a    | 5         | 3               | img-1 |
        | b    | 5         | 4               | img-1 |
      When the feedback of v1 is curated
      Then the dataset counts the exclusions "no_consent=0, not_negative=0, no_label=0, corrupted=0, inconsistent=2, duplicate=0"

    Scenario: An inconsistent answer on an image already selected is inconsistent, not duplicate
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | corrected label | image |
        | a    | 5         | 3               | img-1 |
        | b    | 3         | 3               | img-1 |
      When the feedback of v1 is curated
      Then the dataset includes "a"
      And the dataset counts the exclusions "no_consent=0, not_negative=0, no_label=0, corrupted=0, inconsistent=1, duplicate=0"

    Scenario: DatasetCurated counts every reason and every label source
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | feedback | consent | corrected label | comment        | image        |
        | a    | 5         | negative | yes     | 3               |                |              |
        | b    | 5         | negative | yes     |                 | should be 4    |              |
        | c    | 5         | negative | no      | 3               |                |              |
        | d    | 5         | positive | yes     | 3               |                |              |
        | e    | 5         | negative | yes     |                 | rien à signaler |             |
        | f    | 5         | negative | yes     | 3               |                | not an image |
        | g    | 5         | negative | yes     | 5               |                |              |
        | h    | 5         | negative | yes     | 6               |                | img-2        |
        | i    | 5         | negative | yes     | 6               |                | img-2        |
      When the feedback of v1 is curated
      Then the dataset counts 3 items included
      And the dataset counts the exclusions "no_consent=1, not_negative=1, no_label=1, corrupted=1, inconsistent=1, duplicate=1"
      And the dataset counts the label sources "corrected_label=2, comment=1"

  Rule: Every answer's fate is explained: used with its label, source and split, or left out for its one reason

    Scenario: The curation report answers for each answer, without personal data
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | feedback | consent | corrected label | comment         | image        |
        | a    | 5         | negative | yes     | 3               |                 |              |
        | b    | 5         | negative | yes     |                 | should be 4     |              |
        | c    | 5         | negative | no      |                 | c'est un 3      |              |
        | d    | 5         | positive | yes     | 3               |                 |              |
        | e    | 5         | negative | yes     |                 | rien à signaler |              |
        | f    | 5         | negative | yes     | 3               |                 | not an image |
        | g    | 5         | negative | yes     | 12              |                 |              |
        | h    | 5         | negative | yes     | 6               |                 | img-2        |
        | i    | 5         | negative | yes     | 6               |                 | img-2        |
      When the feedback of v1 is curated
      Then the curation report shows
        | item | outcome  | reason       | label | label source    |
        | a    | selected |              | 3     | corrected_label |
        | b    | selected |              | 4     | comment         |
        | c    | excluded | no_consent   |       |                 |
        | d    | excluded | not_negative | 3     | corrected_label |
        | e    | excluded | no_label     |       |                 |
        | f    | excluded | corrupted    | 3     | corrected_label |
        | g    | excluded | inconsistent | 12    | corrected_label |
        | h    | excluded | duplicate    | 6     | corrected_label |
        | i    | selected |              | 6     | corrected_label |
      And the curation report gives each selected answer the split of the dataset
      And the curation report holds no comment text

  Rule: A label is read from the comment with the French and English patterns, whatever the accents and capitals

    Scenario Outline: "<comment>" gives the label <label>
      Given v1 is in production with the classes "3, 4, 7, cat, dog, vache, éléphant"
      And users answered v1's predictions
        | item | predicted | comment   |
        | a    | dog       | <comment> |
      When the feedback of v1 is curated
      Then the dataset labels "a" as "<label>" from the comment

      Examples:
        | comment                        | label    |
        | c'est un 7                     | 7        |
        | c'est une vache                | vache    |
        | c'était un 3                   | 3        |
        | ça devrait être 4              | 4        |
        | should be 4                    | 4        |
        | it's a 4                       | 4        |
        | it is a cat                    | cat      |
        | label: 4                       | 4        |
        | label=4                        | 4        |
        | C'ÉTAIT UN 3                   | 3        |
        | Ça DEVRAIT ETRE 4              | 4        |
        | C’est une Vache                | vache    |
        | c'est un elephant              | éléphant |
        | IT'S A CAT                     | cat      |
        | trop flou. c'est un 7, oui c'est un 7 | 7 |

    Scenario Outline: "<comment>" gives no label
      Given v1 is in production with the classes "3, 4, 7, cat, dog, vache, éléphant"
      And users answered v1's predictions
        | item | predicted | comment   |
        | a    | dog       | <comment> |
      When the feedback of v1 is curated
      Then the answer is excluded as no_label

      Examples:
        | comment                       |
        | c'est un 7, non c'est un 4    |
        | it is a cat, should be vache  |
        | c'est un cheval               |
        | should be 74                  |
        | image floue                   |
        | 7                             |

  Rule: Critical items wait for a human decision: a label read from a comment, a confident model, a rare class

    Scenario Outline: A label read from a comment is critical, a corrected label is not
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And users answered v1's predictions
        | item | predicted | corrected label | comment    |
        | a    | 0         | <corrected>     | c'est un 1 |
      When the feedback of v1 is curated
      Then "a" <verdict>

      Examples:
        | corrected | verdict                                     |
        |           | awaits review because of label_from_comment |
        | 1         | does not await review                       |

    Scenario Outline: The model was confident at <confidence> yet wrong
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And users answered v1's predictions
        | item | predicted | corrected label | confidence   |
        | a    | 0         | 1               | <confidence> |
      When the feedback of v1 is curated
      Then "a" <verdict>

      Examples:
        | confidence | verdict                                      |
        | 0.95       | awaits review because of confident_but_wrong |
        | 0.99       | awaits review because of confident_but_wrong |
        | 0.94       | does not await review                        |

    Scenario Outline: A class with <count> selected items
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And <count> users corrected v1's predictions to "9"
      When the feedback of v1 is curated
      Then <critical> items labelled "9" await review because of rare_class

      Examples:
        | count | critical |
        | 1     | 1        |
        | 4     | 4        |
        | 5     | 0        |

  Rule: The dataset is split 80/20 by image hash and named by the sha256 of its manifest

    Scenario: The split follows the image hash
      Given v1 is in production
      And v1 has 60 clearly labelled answers
      When the feedback of v1 is curated
      Then every item is in the validation split exactly when its image hash falls in the first 20% of buckets
      And the dataset id is the sha256 of its manifest, which lists each item's image hash, label, source and split

    Scenario: The same data gives the same dataset id
      Given v1 is in production
      And v1 has 25 clearly labelled answers
      When the feedback of v1 is curated twice
      Then both curations give the same dataset id

  Rule: A dataset with fewer than 20 training items ends the campaign with insufficient_data

    Scenario: 19 training items are not enough, whatever the validation split holds
      Given v1 is in production
      And v1 has 19 clearly labelled answers whose images fall in the training split and 5 in the validation split
      When the feedback of v1 is curated
      Then the campaign ends with the outcome insufficient_data

    Scenario: 20 training items are enough
      Given v1 is in production
      And v1 has 20 clearly labelled answers whose images fall in the training split and 5 in the validation split
      When the feedback of v1 is curated
      Then the campaign goes on with 20 training items

    Scenario: Critical items of a dataset too small to train on are not sent to review
      Given v1 is in production
      And users answered v1's predictions
        | item | predicted | comment    |
        | a    | 0         | c'est un 1 |
      When the feedback of v1 is curated
      Then the campaign ends with the outcome insufficient_data
      And "a" does not await review
