"""TensorFlow reads what gmeta writes (needs GMETA_TF_PYTHON; see conftest.py)."""
