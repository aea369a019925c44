// PLACEHOLDER: the daemon's entry point is being written.
print("effnetd")
