// mp_check.h — the exercisers' check: on failure, print the condition and errno, exit 1.
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "%s:%d: check failed: %s (errno %s)\n", __FILE__, __LINE__, #cond, \
              strerrorname_np(errno));                                                   \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)
