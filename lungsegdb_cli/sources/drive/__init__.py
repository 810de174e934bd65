"""Google Drive: its links, its pages (confirmation, quota in any language), cookies, and
gdown as the second client.

May import: sources.http and everything below sources. Every module here is internal.
"""
