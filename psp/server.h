/* server.h - accept platform connections; serve each in its own thread. */
#ifndef TERN_PSP_SERVER_H
#define TERN_PSP_SERVER_H
int server__accept_loop(int lfd);
#endif
