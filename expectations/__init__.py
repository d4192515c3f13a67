"""Great Expectations suites, one JSON per dataset, and the code that builds, loads and runs them.

`build.build_suite` turns a spec (and a reference frame) into a suite; `check.load_suite` and
`check.validate_frame` run it; `messages.summary_markdown` and `messages.raise_for_failures` put the
failures in words.
"""
