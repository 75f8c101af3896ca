import sys
from pathlib import Path

# the reference re-implementation (benchmarks/reference.py) is the oracle of equivalence tests
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
