"""``zc-asyncui pack``: on the FileStorage directly and through ZEO; bad
input is one line and exit status 2."""
import os
import sys

import BTrees.OOBTree
import pytest
import transaction
import ZEO
import ZODB
import ZODB.FileStorage

from zc.asyncui.cli import main


def call_main(argv):
    try:
        return main.main(argv)
    except SystemExit as e:
        return e.code


def make_garbage(path):
    """A Data.fs with 200 KB of objects added, then dropped."""
    db = ZODB.DB(ZODB.FileStorage.FileStorage(path))
    with db.transaction() as conn:
        conn.root()['big'] = tree = BTrees.OOBTree.OOBTree()
        for i in range(200):
            tree[i] = 'x' * 1000
    with db.transaction() as conn:
        del conn.root()['big']
    db.close()
    return os.path.getsize(path)


def test_pack_direct_shrinks_the_file(tmp_path, capsys):
    path = str(tmp_path / 'Data.fs')
    before = make_garbage(path)
    assert call_main(['pack', '--path', path]) == 0
    out = capsys.readouterr().out
    assert out.startswith('packed %s, keeping 0 days' % path)
    assert os.path.getsize(path) < before / 4
    assert '%d -> %d bytes' % (before, os.path.getsize(path)) in out


def test_pack_through_zeo(tmp_path, capsys):
    path = str(tmp_path / 'Data.fs')
    before = make_garbage(path)
    address, stop = ZEO.server(path=path)
    try:
        assert call_main(['pack', '--zeo', '%s:%d' % address]) == 0
    finally:
        stop()
    assert capsys.readouterr().out.startswith('packed ZEO ')
    assert os.path.getsize(path) < before / 4


@pytest.mark.parametrize('argv, message', [
    (['pack', '--days', '-1'], "--days: must be a number of days from 0 to"
     " 3650, not '-1'"),
    (['pack', '--days', 'week'], "not 'week'"),
    (['pack', '--path', 'missing/Data.fs'], 'does not exist'),
    (['pack', '--zeo', '127.0.0.1:1'], 'no ZEO server answers at'
     ' 127.0.0.1:1'),
])
def test_pack_bad_input(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    status = call_main(argv)
    err = capsys.readouterr().err
    assert status in (1, 2) and message in err
    assert len(err.strip().splitlines()) == 1, err
