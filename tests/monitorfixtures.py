"""A stand-in for a monitor connection, shared by the monitor command
tests: it keeps what a command writes."""
import json


class FakeConnection:

    def __init__(self, db=None):
        self.db = db
        self.out = []

    def write(self, text):
        self.out.append(text)

    @property
    def text(self):
        return ''.join(self.out)

    def json(self):
        return json.loads(self.text)
