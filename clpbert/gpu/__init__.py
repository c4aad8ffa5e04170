"""GPU readings (NVML) with a "not available" value per field; a fake backend for tests.

`nvml.py` holds the backend interface, the pynvml backend and the reading logic, `fake.py` the
scenarios selected by CLPBERT_FAKE_NVML, `readings.py` the dataclasses, `attribution.py` which
readings belong to a run and whether a GPU is taken.
"""
