"""What a server needs beside gatecam: its systemd unit and its Prometheus alert rules."""
