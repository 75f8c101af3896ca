import sys
from pathlib import Path

# the reference re-implementation used by equivalence tests lives beside the tests
sys.path.insert(0, str(Path(__file__).parent))
