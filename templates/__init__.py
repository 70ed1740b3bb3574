"""The mail templates segmail ships, installed as package data (`segmail.templates`).

A Python package only so `importlib.resources` finds the files in every kind of install; marketers
edit the .html and .po files, never this one.
"""
