"""Pure rules of the compliance review, one module per concern of the review's use cases.

`dashboard` (rates, baselines, months), `records` (states, overdue sessions, filters, cursors),
`flags` (severities, the queue's filters, how a flag reads), `lots` (the lot trace's query and
prefix bounds), `export` (CSV cells and columns) and `history` (audit events in words). Each is
free of Flask and SQLAlchemy, so the tests call them alone; the use case of the same name in
`safety.review` feeds them plain values. Import the module you need: nothing is gathered here.
"""
