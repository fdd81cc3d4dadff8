"""The product's pages in a real browser (Debian's Chromium, Playwright): see conftest.py."""
