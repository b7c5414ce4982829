"""Publishing a course: fetch an instructor's repository, validate it, build the learners' edition."""
