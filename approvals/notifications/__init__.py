"""Notifications: an outbox written with the state change, delivered by Celery after commit.

The engine calls ``notify(...)`` inside its transaction; see notify.py.
"""
