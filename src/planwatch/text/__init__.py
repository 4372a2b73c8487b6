"""Reading a plan's text: the file (encoding, OCR clean-up, Chinese numerals) and its articles.

Below both :mod:`planwatch.plan` (which checks a package's quotes against the text) and
:mod:`planwatch.extract` (which finds candidate targets in it)."""
