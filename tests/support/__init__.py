"""Helpers the tests share: the local fake of Google Drive (``drive_fake``) and fake progress
reporters and a hang guard (``fakes``). Importable as ``support.*`` from any test module."""
