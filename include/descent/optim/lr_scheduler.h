#pragma once
// torch.optim.lr_scheduler: every learning-rate scheduler, in namespace
// descent::optim::lr. SWALR lives with the SWA utilities (swa_utils.h).
#include "descent/optim/lr/cosine_lr.h"
#include "descent/optim/lr/cyclic_lr.h"
#include "descent/optim/lr/lambda_lr.h"
#include "descent/optim/lr/lr_scheduler.h"
#include "descent/optim/lr/reduce_lr_on_plateau.h"
#include "descent/optim/lr/sequential_lr.h"
#include "descent/optim/lr/step_lr.h"
