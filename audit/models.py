"""The audit app has no tables of its own: it reads the other apps' audit rows (see selectors.py).

This module exists so that Django sends the app its post_migrate signal (apps.py creates the default groups).
"""
