"""Statistics used by every stage that weighs evidence: paired rows, the bootstrap, intervals and
multiple-testing corrections, and what one independent unit of evidence is. A floor: it imports no stage."""
