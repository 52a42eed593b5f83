"""The employee web pages: inbox, submit, requests. Thin: parse, call one
service or selector, render."""
