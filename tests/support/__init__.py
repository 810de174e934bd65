"""Helpers the tests share: the local fake of Google Drive (``drive_fake``), fake progress
reporters and a hang guard (``fakes``), the crash-point harness (``crashes``), hostile TIFFs
(``tiffs``), small trees of CT-like slices (``ct``: signed int16 HU with padded corners, 0/255
masks) and the docs' code (``doc_snippets``). Importable as ``support.*`` from any test
module."""
