Feature: Training of the candidate
  Fine-tuning starts from the parent's weights, with a rehearsal sample of the original training set against
  forgetting; full retraining starts afresh on the original training set and the curated data. The seed, the
  hyper-parameters and the best epoch are recorded, and the weights are stored by sha256.

  Rule: Fine-tuning starts from the parent's weights at a learning rate of 1e-4 or 1e-3, whichever stops at the lower validation loss, for at most 20 epochs (40 under 1,000 curated items), with rehearsal

    Scenario: A campaign fine-tunes v1 on its curated dataset
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      When the campaign is advanced
      Then v2 was trained with the fine_tune strategy from the weights of v1 on the campaign's dataset and v1's original training set
      And the training of v2 kept the better of the learning rates 0.0001 and 0.001, for at most 20 epochs or 40 under 1000 curated items, with a patience of 3 and seed 0
      And the rehearsal sample of v2 is at most 4 times as large as its curated training split or 500 items, whichever is more, and at most 5000 items
      And the weights of v2 are stored by sha256 and load as the architecture and classes of v1
      And v2 records the epoch it kept

  Rule: Full retraining starts afresh at a learning rate of 1e-3, halved after each epoch that does not lower the validation loss, for at most 50 epochs

    Scenario: An operator forces full retraining
      Given v1 is in production
      And v1 has 20 clearly labelled answers ready for training
      And a campaign was opened by hand on v1
      And the campaign's feedback has been curated
      And the operator "olivia" has forced full retraining
      When the campaign is advanced
      Then v2 was trained with the full strategy from the weights of v1 on the campaign's dataset and v1's original training set
      And the training of v2 used a learning rate of 0.001, multiplied by 0.5 after each epoch that does not lower the validation loss, at most 50 epochs, a patience of 3 and seed 0
      And the weights of v2 are stored by sha256 and load as the architecture and classes of v1
      And v2 records the epoch it kept
