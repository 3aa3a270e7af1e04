"""Molecule loaders: QM9/MOSES on the shared data, the ZINC250k layout on a csv written here, bad rows and files."""
import gzip
import json

import pytest
import torch

from sheafgraph.chem import QM9_ATOMS, ZINC250K_ATOMS
from sheafgraph.data import molecules
from sheafgraph.data.molecules import (MOLECULE_DATASETS, QM9_MAX_ATOMS, cached_smiles_to_dense, load_moses, load_qm9,
                                       load_zinc250k, molecule_dataset_spec, smiles_to_dense)


def test_qm9_split_sizes(shared_data):
    splits = load_qm9(shared_data, check_smiles=False)  # the default check is exercised on the files below
    assert len(splits.train) == 117_917 and len(splits.test) == 12_914
    assert splits.train[:5] == ["C", "N", "O", "C#C", "C#N"]  # rows 0-4; row 6 (ethane) opens the test split
    assert splits.test[:3] == ["CC", "CC#C", "CC(N)=O"]
    x, adj = smiles_to_dense(splits.test[-1000:], QM9_ATOMS, QM9_MAX_ATOMS)
    assert x.shape == (1000, 9, 4) and adj.shape == (1000, 9, 9)
    mask = x.sum(-1) > 0
    assert int(mask.sum(1).max()) == 9 and torch.equal(adj, adj.transpose(1, 2))


def test_moses_limit_and_test_sets(shared_data):
    splits = load_moses(shared_data, limit=300)
    assert len(splits.train) == len(splits.test) == 300
    assert splits.train[0] == "CCCS(=O)c1ccc2[nH]c(=NC(=O)OC)[nH]c2c1"
    scaffolds = load_moses(shared_data, limit=5, test_set="test_scaffolds")
    assert scaffolds.train == splits.train[:5] and scaffolds.test != splits.test[:5]
    x, _ = smiles_to_dense(splits.train, ZINC250K_ATOMS, molecule_dataset_spec("moses").max_atoms)
    assert int((x.sum(-1) > 0).sum(1).max()) <= 27
    with pytest.raises(ValueError, match="valid names: test, test_scaffolds"):
        load_moses(shared_data, test_set="scaffolds")
    with pytest.raises(ValueError, match="limit"):
        load_moses(shared_data, limit=0)


def write_zinc(root, rows, test_idx):
    folder = root / "molecules" / "zinc250k"
    folder.mkdir(parents=True)
    lines = [",smiles,logP,qed,SAS"] + [f'{i},"{s}\n",1.0,0.5,2.0' for i, s in enumerate(rows)]
    (folder / "zinc250k.csv").write_text("\n".join(lines) + "\n")
    (folder / "valid_idx_zinc250k.json").write_text(json.dumps(test_idx))


def test_zinc250k_layout_skips_invalid_rows_with_a_warning(tmp_path):
    rows = ["CC(C)(C)c1ccc2occ(CC(=O)Nc3ccccc3F)c2c1", "C1CC", "Cc1ccc(S(=O)(=O)N)cc1", "", "CCBr", "CP(C)C",
            "c1ccccc1I", "CN(C)(C)(C)C"]
    write_zinc(tmp_path, rows, [1, 2, 6])
    with pytest.warns(UserWarning, match=r"skipped 3 of 8 rows .* \(first: row 1 'C1CC'\)"):
        splits = load_zinc250k(tmp_path)
    assert splits.train == [rows[0], "CCBr", "CP(C)C"]  # the csv's trailing newlines are stripped
    assert splits.test == [rows[2], rows[6]]
    x, adj = smiles_to_dense(splits.train + splits.test, ZINC250K_ATOMS, MOLECULE_DATASETS["zinc250k"].max_atoms)
    assert x.shape == (5, 38, 9) and x[:, :, ZINC250K_ATOMS.index("Br")].sum() == 1


def test_qm9_file_with_bad_rows(tmp_path):
    folder = tmp_path / "molecules" / "qm9"
    folder.mkdir(parents=True)
    (folder / "qm9.csv").write_text("row,SMILES1\n0,C\n1,N\n5,C(\n7,CO\n9,CC#N\n")
    (folder / "valid_idx_qm9.json").write_text(json.dumps({"valid_idxs": ["000005", "000007", "000008"]}))
    with pytest.raises(ValueError, match="verify=False"):
        load_qm9(tmp_path)
    with pytest.warns(UserWarning, match=r"skipped 1 of 5 rows .*row 5 'C\('"):
        splits = load_qm9(tmp_path, verify=False)
    assert splits == (["C", "N", "CC#N"], ["CO"])


def test_missing_files_and_unknown_names(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"qm9\.csv not found; QM9 as used by MoFlow/GDSS"):
        load_qm9(tmp_path)
    with pytest.raises(FileNotFoundError, match="zinc250k.csv not found"):
        load_zinc250k(tmp_path)
    with pytest.raises(FileNotFoundError, match="MOSES benchmark"):
        load_moses(tmp_path)
    with pytest.raises(ValueError, match="valid names: qm9, zinc250k, moses"):
        molecule_dataset_spec("guacamol")


def test_moses_gz_reader_on_a_written_file(tmp_path):
    folder = tmp_path / "molecules" / "moses"
    folder.mkdir(parents=True)
    for name, body in (("train", "SMILES\nCCO\nc1ccccc1\nC1CC\n"), ("test", "SMILES\nCCN\n")):
        with gzip.open(folder / f"{name}.csv.gz", "wt") as f:
            f.write(body)
    with pytest.warns(UserWarning, match="skipped 1 of 3"):
        splits = load_moses(tmp_path, verify=False)
    assert splits == (["CCO", "c1ccccc1"], ["CCN"])


def test_dense_cache_is_keyed_by_content(tmp_path, monkeypatch):
    smiles = ["C", "CCO", "c1ccccc1", "N#CC(N)=O"]
    x, adj = cached_smiles_to_dense(smiles, QM9_ATOMS, 9, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("dense-*.pt"))) == 1

    def fail(*args):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(molecules, "smiles_to_dense", fail)
    x2, adj2 = cached_smiles_to_dense(smiles, QM9_ATOMS, 9, cache_dir=tmp_path)
    assert torch.equal(x, x2) and torch.equal(adj, adj2)
    with pytest.raises(AssertionError, match="not used"):  # another list, or another size, is another key
        cached_smiles_to_dense(smiles[:3], QM9_ATOMS, 9, cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="not used"):
        cached_smiles_to_dense(smiles, QM9_ATOMS, 8, cache_dir=tmp_path)


def test_unreadable_molecule_files_are_named(tmp_path):
    folder = tmp_path / "molecules" / "qm9"
    folder.mkdir(parents=True)
    (folder / "qm9.csv").write_text("row,SMILES1\n0,C(\n1,X\n")
    (folder / "valid_idx_qm9.json").write_text(json.dumps({"valid_idxs": ["000001"]}))
    with pytest.raises(ValueError, match=r"qm9\.csv: none of its 2 SMILES can be read"):
        load_qm9(tmp_path, verify=False)
    (folder / "qm9.csv").write_text("row,SMILES1\n0,C\n,N\n")
    with pytest.raises(ValueError, match=r"qm9\.csv: not a readable csv file .*invalid literal"):
        load_qm9(tmp_path, verify=False)
    (folder / "qm9.csv").write_text("row,SMILES1\n0,C\n1,N\n")
    (folder / "valid_idx_qm9.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"valid_idx_qm9\.json: not a readable json list"):
        load_qm9(tmp_path, verify=False)
    moses = tmp_path / "molecules" / "moses"
    moses.mkdir(parents=True)
    (moses / "train.csv.gz").write_bytes(b"plain text, not gzip")
    (moses / "test.csv.gz").write_bytes(gzip.compress(b"SMILES\nCCO\n"))
    with pytest.raises(ValueError, match=r"train\.csv\.gz: not a readable csv\.gz file .*BadGzipFile"):
        load_moses(tmp_path, verify=False)
