"""Real QM9 molecules for the chemistry tests (skipped when the shared data folder is absent)."""
import csv

import pytest

from tests.conftest import SHARED_DATA

QM9_CSV = SHARED_DATA / "molecules" / "qm9" / "qm9.csv"


@pytest.fixture(scope="session")
def qm9_smiles():
    """All 130,831 QM9 SMILES in file order (row 0 methane, 1 ammonia, 2 water)."""
    if not QM9_CSV.is_file():
        pytest.skip(f"QM9 csv {QM9_CSV} not present")
    with open(QM9_CSV, newline="") as f:
        return [r["SMILES1"] for r in csv.DictReader(f)]
