"""ccbot's own HTTP server, shared by the chat front ends that need one."""
