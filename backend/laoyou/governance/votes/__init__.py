"""Owners' votes (表决) under the Civil Code, art. 278: proposal, ballots online and on paper, the count, the
official's certification and the decision it takes."""
