#pragma once
// descent's small torch.nn: Module, the layers and losses, init, functional, utils.
#include "descent/autograd/nn/activation.h"
#include "descent/autograd/nn/batchnorm.h"
#include "descent/autograd/nn/container.h"
#include "descent/autograd/nn/dropout.h"
#include "descent/autograd/nn/embedding.h"
#include "descent/autograd/nn/functional.h"
#include "descent/autograd/nn/init.h"
#include "descent/autograd/nn/linear.h"
#include "descent/autograd/nn/loss.h"
#include "descent/autograd/nn/module.h"
#include "descent/autograd/nn/normalization.h"
#include "descent/autograd/nn/utils.h"
