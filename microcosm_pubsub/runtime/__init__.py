"""What runs the consuming side: the receive loop, in-flight bounds, FIFO ordering, processes, Lambda."""
