"""Unit tests of zc.asyncui.instanceuuid."""
import os
import subprocess
import sys
import uuid

import pytest

from zc.asyncui import instanceuuid


def test_get_uuid_creates_file_and_directories(tmp_path):
    path = tmp_path / 'deep' / 'var' / 'instance_uuid.txt'
    value = instanceuuid.get_uuid(str(path))
    assert isinstance(value, uuid.UUID)
    lines = path.read_text().splitlines()
    assert lines[0] == str(value)
    text = '\n'.join(lines[1:])
    assert 'zc.asyncui dispatcher' in text
    assert 'its own file' in text


def test_get_uuid_reads_existing(tmp_path):
    path = tmp_path / 'uuid.txt'
    known = uuid.uuid4()
    path.write_text('%s\nanything else\n' % known)
    assert instanceuuid.get_uuid(str(path)) == known
    assert instanceuuid.get_uuid(str(path)) == known


def test_get_uuid_stable_across_calls(tmp_path):
    path = str(tmp_path / 'uuid.txt')
    assert instanceuuid.get_uuid(path) == instanceuuid.get_uuid(path)


def test_get_uuid_tolerates_whitespace(tmp_path):
    path = tmp_path / 'uuid.txt'
    known = uuid.uuid4()
    path.write_text('  %s  \n' % known)
    assert instanceuuid.get_uuid(str(path)) == known


@pytest.mark.parametrize('content', ['not a uuid\n', '', '\n%s\n' % (
    uuid.uuid4(),)])
def test_get_uuid_wo_uuid_in_file(tmp_path, content):
    path = tmp_path / 'uuid.txt'
    path.write_text(content)
    with pytest.raises(ValueError) as info:
        instanceuuid.get_uuid(str(path))
    message = str(info.value)
    assert str(path) in message
    assert 'does not start with a UUID' in message
    assert 'Delete it to get a new one' in message


def test_get_uuid_default_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    value = instanceuuid.get_uuid()
    assert (tmp_path / 'var' / 'instance_uuid.txt').read_text().startswith(
        str(value))
    assert instanceuuid.DEFAULT_PATH == os.path.join(
        'var', 'instance_uuid.txt')


def test_get_uuid_in_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    value = instanceuuid.get_uuid('here.txt')
    assert instanceuuid.get_uuid(str(tmp_path / 'here.txt')) == value


def test_create_when_another_process_won(tmp_path):
    # Two processes creating the file at once both get the winner's UUID.
    path = tmp_path / 'uuid.txt'
    known = uuid.uuid4()
    path.write_text('%s\n' % known)
    assert instanceuuid._create(str(path)) == known


def test_no_file_at_import_time(tmp_path):
    code = ('import zc.asyncui, zc.asyncui.instanceuuid,'
            ' zc.asyncui.dispatcher, zc.asyncui.testing')
    subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path),
                   check=True)
    assert os.listdir(str(tmp_path)) == []
