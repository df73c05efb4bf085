"""Use cases of the procedure, over ports; no torch, torchvision or sqlalchemy here."""
