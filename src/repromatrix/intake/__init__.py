"""0: a bug report read into a matrix.yaml (`repromatrix init --from`): the report's lines
(`report.py`), what each line says about the reporter's world (`clues.py`), and the commented
matrix that cites them (`draft.py`)."""
