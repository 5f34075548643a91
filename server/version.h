/* version.h — the product version, reported by health and --help. */
#ifndef INFICOND_VERSION_H
#define INFICOND_VERSION_H
#define INFICOND_VERSION "0.1.0"
#endif
