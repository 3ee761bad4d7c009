"""The compliance desk: what compliance officers (and practitioners, for their flags) review.

One module per family of use cases: `dashboard`, `records` (the list, patient search and one
record's page), `flags`, `lots` (the lot trace and recall CSV) and `export` (the records CSV).
`queries` holds the SQL they share, `csvsql` the CSV the database writes; `rules/` the pure
rules, `routes` and `forms` the web side, `charts` the dashboard's SVG.
"""
