"""Read by every gunicorn of Cercle: gunicorn loads `./gunicorn.conf.py` from its working
directory (the repository root under devstack, /app in the image and on Kubernetes).
The commands state everything else (bind, workers, timeouts)."""

# gunicorn 25.1 and later open a control socket by default (the pin is 23 for now, see
# pyproject.toml; this stays ready for the upgrade), under $XDG_RUNTIME_DIR or
# $HOME/.gunicorn: the image has no home and a read-only root file system, and the APIs
# of one machine would take the one path from each other. Nothing uses `gunicornc`.
control_socket_disable = True
