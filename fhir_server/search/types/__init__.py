"""One module per search parameter type (http://hl7.org/fhir/R4/search.html#ptypes).

Each module knows its index table: ``TABLE`` and ``COLUMNS`` (after ``rid``), ``extract()`` turning
FHIRPath results into index rows at write time, and ``compile()`` turning a search value into a
SQL condition on those rows at query time.
"""
