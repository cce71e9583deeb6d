"""Training labs: stages a learner works through, a shell on each host, grading."""
