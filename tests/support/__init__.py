"""Helpers the tests share: the local fake of Google Drive (``drive_fake``), fake progress
reporters and a hang guard (``fakes``), the crash-point harness (``crashes``). Importable as
``support.*`` from any test module."""
