"""Preprocessing: fixes cleaned (every rejection counted with its reason) and cut into local day tracks."""
