"""
Fully connected networks in PyTorch, written the way the course's starter code of
fully_connected_networks.py (2022 A3) lays it out: its names, signatures, defaults and habits
(update rules that change w in place, checkpoints with the course's keys, torch.relu, which the
course allows from A3 on). Our extras (LeakyReLU, ELU, activation=, sgd_nesterov, adagrad) are
written in the same style.
WARNING: do not use ".to()" or ".cuda()" inside the implementation blocks.

(Course-style second solution of tests/test_course_style.py. The course imports softmax_loss from
a3_helper and Solver from eecs598; here Solver comes from eecs498.solver and the losses are
written below.)
"""
import torch
from eecs498.solver import Solver


def hello_fully_connected_networks():
    """
    Sample function that the notebook imports and runs, to check the setup.
    """
    print('Hello from fully_connected_networks.py!')


def softmax_loss(x, y):
    """
    Softmax loss and its gradient for scores x (N, C) and labels y (N,).
    """
    shifted = x - x.max(dim=1, keepdim=True).values
    Z = shifted.exp().sum(dim=1, keepdim=True)
    log_probs = shifted - Z.log()
    probs = log_probs.exp()
    N = x.shape[0]
    loss = (-1.0 / N) * log_probs[torch.arange(N, device=x.device), y].sum()
    dx = probs.clone()
    dx[torch.arange(N, device=x.device), y] -= 1
    dx /= N
    return loss, dx


def svm_loss(x, y):
    """
    Multiclass SVM loss and its gradient for scores x (N, C) and labels y (N,).
    """
    N = x.shape[0]
    correct_class_scores = x[torch.arange(N, device=x.device), y]
    margins = (x - correct_class_scores[:, None] + 1.0).clamp(min=0.)
    margins[torch.arange(N, device=x.device), y] = 0.
    loss = margins.sum() / N
    num_pos = (margins > 0).sum(dim=1)
    dx = torch.zeros_like(x)
    dx[margins > 0] = 1.
    dx[torch.arange(N, device=x.device), y] -= num_pos.to(dx.dtype)
    dx /= N
    return loss, dx


class Linear(object):

    @staticmethod
    def forward(x, w, b):
        """
        Forward pass of a linear (fully-connected) layer: each example of x (N, d_1, ..., d_k) is
        flattened to D = d_1 * ... * d_k numbers. Returns (out (N, M), cache (x, w, b)).
        """
        out = None
        ######################################################################
        # TODO: Implement the linear forward pass.                           #
        ######################################################################
        num_examples = x.shape[0]
        out = torch.addmm(b, x.reshape(num_examples, -1), w)
        ######################################################################
        #                        END OF YOUR CODE                            #
        ######################################################################
        cache = (x, w, b)
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """
        Backward pass of a linear layer: returns (dx, dw, db), each of the shape of its input.
        """
        x, w, b = cache
        dx, dw, db = None, None, None
        ##################################################
        # TODO: Implement the linear backward pass.      #
        ##################################################
        flat = x.reshape(x.shape[0], -1)
        db = torch.sum(dout, dim=0)
        dw = torch.matmul(flat.T, dout)
        dx = torch.matmul(dout, w.T).view(*x.shape)
        ##################################################
        #                END OF YOUR CODE                #
        ##################################################
        return dx, dw, db


class ReLU(object):

    @staticmethod
    def forward(x):
        """
        Forward pass of a layer of rectified linear units. Returns (out, cache = x).
        """
        out = None
        ###################################################
        # TODO: Implement the ReLU forward pass.          #
        # You should not change the input tensor with an  #
        # in-place operation.                             #
        ###################################################
        out = torch.relu(x)  # torch.relu is allowed from A3 on
        ###################################################
        #                 END OF YOUR CODE                #
        ###################################################
        cache = x
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """
        Backward pass of a layer of ReLUs: the upstream derivative where x > 0, else 0.
        """
        dx, x = None, cache
        #####################################################
        # TODO: Implement the ReLU backward pass.           #
        #####################################################
        dx = dout.clone()
        dx[x <= 0] = 0
        #####################################################
        #                  END OF YOUR CODE                 #
        #####################################################
        return dx


class LeakyReLU(object):

    @staticmethod
    def forward(x, negative_slope=0.01):
        """
        Leaky ReLU: x where x > 0, negative_slope * x elsewhere. Returns (out, (x, negative_slope)).
        """
        out = x.clone()
        negative = x <= 0
        out[negative] = out[negative] * negative_slope
        cache = (x, negative_slope)
        return out, cache

    @staticmethod
    def backward(dout, cache):
        x, negative_slope = cache
        dx = dout.clone()
        dx[x <= 0] *= negative_slope
        return dx


class ELU(object):

    @staticmethod
    def forward(x, alpha=1.0):
        """
        ELU: x where x > 0, alpha * (exp(x) - 1) elsewhere. Returns (out, (x, alpha)).
        """
        negative_part = alpha * torch.expm1(torch.minimum(x, torch.zeros_like(x)))
        out = torch.maximum(x, torch.zeros_like(x)) + negative_part
        cache = (x, alpha)
        return out, cache

    @staticmethod
    def backward(dout, cache):
        x, alpha = cache
        local = torch.ones_like(x)
        below = x <= 0
        local[below] = alpha * torch.exp(x[below])
        return dout * local


class Linear_ReLU(object):

    @staticmethod
    def forward(x, w, b):
        """
        Convenience layer that performs an linear transform followed by a ReLU.
        """
        a, fc_cache = Linear.forward(x, w, b)
        out, relu_cache = ReLU.forward(a)
        cache = (fc_cache, relu_cache)
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """
        Backward pass for the linear-relu convenience layer
        """
        fc_cache, relu_cache = cache
        da = ReLU.backward(dout, relu_cache)
        dx, dw, db = Linear.backward(da, fc_cache)
        return dx, dw, db


ACTIVATION_LAYERS = {'relu': ReLU, 'leaky_relu': LeakyReLU, 'elu': ELU}


class TwoLayerNet(object):
    """
    A two-layer fully-connected neural network with ReLU nonlinearity and softmax loss:
    linear - relu - linear - softmax. Its parameters are in self.params.
    """

    def __init__(self, input_dim=3*32*32, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0,
                 dtype=torch.float32, device='cpu'):
        self.params = {}
        self.reg = reg

        ###################################################################
        # TODO: Initialize the weights and biases of the two-layer net.   #
        ###################################################################
        sizes = [(input_dim, hidden_dim), (hidden_dim, num_classes)]
        for layer, (fan_in, fan_out) in enumerate(sizes, start=1):
            self.params['W%d' % layer] = torch.normal(0.0, weight_scale, size=(fan_in, fan_out),
                                                      dtype=dtype, device=device)
            self.params['b%d' % layer] = torch.zeros(fan_out, dtype=dtype, device=device)
        ###############################################################
        #                            END OF YOUR CODE                 #
        ###############################################################

    def save(self, path):
        checkpoint = {
          'reg': self.reg,
          'params': self.params,
        }

        torch.save(checkpoint, path)
        print("Saved in {}".format(path))

    def load(self, path, dtype, device):
        checkpoint = torch.load(path, map_location='cpu')
        self.params = checkpoint['params']
        self.reg = checkpoint['reg']
        for p in self.params:
            self.params[p] = self.params[p].type(dtype).to(device)
        print("load checkpoint file: {}".format(path))

    def loss(self, X, y=None):
        """
        Scores (N, C) when y is None; else (loss, grads) for the minibatch.
        """
        scores = None
        #############################################################
        # TODO: the forward pass of the two-layer net               #
        #############################################################
        a1, first_cache = Linear_ReLU.forward(X, self.params['W1'], self.params['b1'])
        scores, second_cache = Linear.forward(a1, self.params['W2'], self.params['b2'])
        ##############################################################
        #                     END OF YOUR CODE                       #
        ##############################################################

        # If y is None then we are in test mode so just return scores
        if y is None:
            return scores

        loss, grads = 0, {}
        ###################################################################
        # TODO: the backward pass of the two-layer net (L2, no 0.5)       #
        ###################################################################
        data_loss, dscores = softmax_loss(scores, y)
        penalty = sum((self.params[k] * self.params[k]).sum() for k in ('W1', 'W2'))
        loss = data_loss + self.reg * penalty
        da1, dW2, db2 = Linear.backward(dscores, second_cache)
        _, dW1, db1 = Linear_ReLU.backward(da1, first_cache)
        grads = {'W1': dW1 + 2 * self.reg * self.params['W1'], 'b1': db1,
                 'W2': dW2 + 2 * self.reg * self.params['W2'], 'b2': db2}
        ###################################################################
        #                     END OF YOUR CODE                            #
        ###################################################################

        return loss, grads


class FullyConnectedNet(object):
    """
    {linear - relu - [dropout]} x (L - 1) - linear - softmax. activation='leaky_relu' or 'elu'
    changes the nonlinearity (our extra); dropout is optional.
    """

    def __init__(self, hidden_dims, input_dim=3*32*32, num_classes=10,
                 dropout=0.0, reg=0.0, weight_scale=1e-2, seed=None,
                 dtype=torch.float, device='cpu', activation='relu'):
        self.use_dropout = dropout != 0
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}
        if activation not in ACTIVATION_LAYERS:
            raise ValueError('Unknown activation "%s"' % activation)
        self.activation = activation

        #######################################################################
        # TODO: Initialize the parameters of the network.                     #
        #######################################################################
        fan_in = input_dim
        for layer, fan_out in enumerate(list(hidden_dims) + [num_classes], start=1):
            self.params['W%d' % layer] = torch.normal(0.0, weight_scale, size=(fan_in, fan_out),
                                                      dtype=dtype, device=device)
            self.params['b%d' % layer] = torch.zeros(fan_out, dtype=dtype, device=device)
            fan_in = fan_out
        #######################################################################
        #                         END OF YOUR CODE                            #
        #######################################################################

        # When using dropout we need to pass a dropout_param dictionary
        # to each dropout layer so that the layer knows the dropout
        # probability and the mode (train / test).
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {'mode': 'train', 'p': dropout}
            if seed is not None:
                self.dropout_param['seed'] = seed

    def save(self, path):
        checkpoint = {
          'reg': self.reg,
          'dtype': self.dtype,
          'params': self.params,
          'num_layers': self.num_layers,
          'use_dropout': self.use_dropout,
          'dropout_param': self.dropout_param,
        }

        torch.save(checkpoint, path)
        print("Saved in {}".format(path))

    def load(self, path, dtype, device):
        checkpoint = torch.load(path, map_location='cpu')
        self.params = checkpoint['params']
        self.dtype = dtype
        self.reg = checkpoint['reg']
        self.num_layers = checkpoint['num_layers']
        self.use_dropout = checkpoint['use_dropout']
        self.dropout_param = checkpoint['dropout_param']

        for p in self.params:
            self.params[p] = self.params[p].type(dtype).to(device)

        print("load checkpoint file: {}".format(path))

    def loss(self, X, y=None):
        """
        Compute loss and gradient for the fully-connected net.
        Input / output: Same as TwoLayerNet above.
        """
        X = X.to(self.dtype)
        mode = 'test' if y is None else 'train'

        if self.use_dropout:
            self.dropout_param['mode'] = mode
        scores = None
        ##################################################################
        # TODO: the forward pass of the fully-connected net              #
        ##################################################################
        nonlinearity = ACTIVATION_LAYERS[self.activation]
        layer_caches = {}
        current = X
        for layer in range(1, self.num_layers):
            current, fc_cache = Linear.forward(current, self.params['W%d' % layer], self.params['b%d' % layer])
            current, act_cache = nonlinearity.forward(current)
            drop_cache = None
            if self.use_dropout:
                current, drop_cache = Dropout.forward(current, self.dropout_param)
            layer_caches[layer] = (fc_cache, act_cache, drop_cache)
        last = self.num_layers
        scores, layer_caches[last] = Linear.forward(current, self.params['W%d' % last], self.params['b%d' % last])
        #################################################################
        #                      END OF YOUR CODE                         #
        #################################################################

        # If test mode return early
        if mode == 'test':
            return scores

        loss, grads = 0.0, {}
        #####################################################################
        # TODO: the backward pass of the fully-connected net (L2, no 0.5)   #
        #####################################################################
        loss, upstream = softmax_loss(scores, y)
        for layer in range(last, 0, -1):
            W = self.params['W%d' % layer]
            loss = loss + self.reg * (W * W).sum()
            if layer == last:
                upstream, dW, db = Linear.backward(upstream, layer_caches[layer])
            else:
                fc_cache, act_cache, drop_cache = layer_caches[layer]
                if self.use_dropout:
                    upstream = Dropout.backward(upstream, drop_cache)
                upstream = nonlinearity.backward(upstream, act_cache)
                upstream, dW, db = Linear.backward(upstream, fc_cache)
            grads['W%d' % layer] = dW + 2 * self.reg * W
            grads['b%d' % layer] = db
        ###########################################################
        #                   END OF YOUR CODE                      #
        ###########################################################

        return loss, grads


def create_solver_instance(data_dict, dtype, device):
    model = TwoLayerNet(hidden_dim=200, dtype=dtype, device=device)
    #############################################################
    # TODO: Use a Solver instance to train a TwoLayerNet that   #
    # achieves at least 50% accuracy on the validation set.     #
    #############################################################
    solver = None
    solver = Solver(model, data_dict, update_rule=sgd, optim_config={'learning_rate': 2e-1},
                    lr_decay=0.95, num_epochs=12, batch_size=100, print_every=1000, verbose=False,
                    device=device)
    ##############################################################
    #                    END OF YOUR CODE                        #
    ##############################################################
    return solver


def get_three_layer_network_params():
    ###############################################################
    # TODO: Change weight_scale and learning_rate so your         #
    # model achieves 100% training accuracy within 20 epochs.     #
    ###############################################################
    weight_scale = 1e-1
    learning_rate = 2e-1
    ################################################################
    #                             END OF YOUR CODE                 #
    ################################################################
    return weight_scale, learning_rate


def get_five_layer_network_params():
    ################################################################
    # TODO: Change weight_scale and learning_rate so your          #
    # model achieves 100% training accuracy within 20 epochs.      #
    ################################################################
    learning_rate = 1.5e-1
    weight_scale = 1.2e-1
    ################################################################
    #                       END OF YOUR CODE                       #
    ################################################################
    return weight_scale, learning_rate


def sgd(w, dw, config=None):
    """
    Performs vanilla stochastic gradient descent.
    config format:
    - learning_rate: Scalar learning rate.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)

    w -= config['learning_rate'] * dw
    return w, config


def sgd_momentum(w, dw, config=None):
    """
    Stochastic gradient descent with momentum; w and the velocity are updated in place.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('momentum', 0.9)
    v = config.get('velocity', torch.zeros_like(w))

    next_w = None
    ##################################################################
    # TODO: Implement the momentum update formula.                   #
    ##################################################################
    v.mul_(config['momentum']).add_(dw, alpha=-config['learning_rate'])
    w += v
    next_w = w
    ###################################################################
    #                           END OF YOUR CODE                      #
    ###################################################################
    config['velocity'] = v

    return next_w, config


def sgd_nesterov(w, dw, config=None):
    """
    Nesterov momentum in the change of variables of lecture 11 (our extra), in place.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('momentum', 0.9)
    v = config.get('velocity', torch.zeros_like(w))
    rho = config['momentum']
    w.add_(v, alpha=-rho)
    v.mul_(rho).add_(dw, alpha=-config['learning_rate'])
    w.add_(v, alpha=1 + rho)
    config['velocity'] = v
    return w, config


def adagrad(w, dw, config=None):
    """
    AdaGrad (our extra), in place.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('epsilon', 1e-8)
    config.setdefault('cache', torch.zeros_like(w))
    config['cache'] += dw ** 2
    w -= config['learning_rate'] * dw / (config['cache'].sqrt() + config['epsilon'])
    return w, config


def rmsprop(w, dw, config=None):
    """
    RMSProp: a moving average of the squared gradients scales each parameter's step; in place.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('decay_rate', 0.99)
    config.setdefault('epsilon', 1e-8)
    config.setdefault('cache', torch.zeros_like(w))

    next_w = None
    ###########################################################################
    # TODO: Implement the RMSprop update formula.                             #
    ###########################################################################
    rate = config['decay_rate']
    config['cache'].mul_(rate).addcmul_(dw, dw, value=1 - rate)
    w.addcdiv_(dw, config['cache'].sqrt().add(config['epsilon']), value=-config['learning_rate'])
    next_w = w
    ###########################################################################
    #                             END OF YOUR CODE                            #
    ###########################################################################

    return next_w, config


def adam(w, dw, config=None):
    """
    Adam: moving averages of the gradient and its square, with bias correction; in place.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-3)
    config.setdefault('beta1', 0.9)
    config.setdefault('beta2', 0.999)
    config.setdefault('epsilon', 1e-8)
    config.setdefault('m', torch.zeros_like(w))
    config.setdefault('v', torch.zeros_like(w))
    config.setdefault('t', 0)

    next_w = None
    ##########################################################################
    # TODO: Implement the Adam update formula (modify t before using it).   #
    ##########################################################################
    config['t'] += 1
    b1, b2 = config['beta1'], config['beta2']
    config['m'].mul_(b1).add_(dw, alpha=1 - b1)
    config['v'].mul_(b2).addcmul_(dw, dw, value=1 - b2)
    first = config['m'] / (1 - b1 ** config['t'])
    second = config['v'] / (1 - b2 ** config['t'])
    w -= config['learning_rate'] * first / (second.sqrt() + config['epsilon'])
    next_w = w
    #########################################################################
    #                              END OF YOUR CODE                         #
    #########################################################################

    return next_w, config


class Dropout(object):

    @staticmethod
    def forward(x, dropout_param):
        """
        Inverted dropout: p is the probability of DROPPING a unit; mode 'train' or 'test'; a
        'seed' makes the mask deterministic. Returns (out, (dropout_param, mask)).
        """
        p, mode = dropout_param['p'], dropout_param['mode']
        if 'seed' in dropout_param:
            torch.manual_seed(dropout_param['seed'])

        mask = None
        out = None

        if mode == 'train':
            ##############################################################
            # TODO: Implement training phase forward pass for            #
            # inverted dropout.                                          #
            ##############################################################
            keep = torch.rand(x.shape, device=x.device) < (1 - p)
            mask = keep.to(x.dtype) / (1 - p)
            out = x * mask
            ##############################################################
            #                   END OF YOUR CODE                         #
            ##############################################################
        elif mode == 'test':
            ##############################################################
            # TODO: Implement the test phase forward pass for            #
            # inverted dropout.                                          #
            ##############################################################
            out = x
            ##############################################################
            #                      END OF YOUR CODE                      #
            ##############################################################

        cache = (dropout_param, mask)

        return out, cache

    @staticmethod
    def backward(dout, cache):
        """
        Backward pass for (inverted) dropout.
        """
        dropout_param, mask = cache
        mode = dropout_param['mode']

        dx = None
        if mode == 'train':
            ###########################################################
            # TODO: Implement training phase backward pass for        #
            # inverted dropout                                        #
            ###########################################################
            dx = mask * dout
            ###########################################################
            #                     END OF YOUR CODE                    #
            ###########################################################
        elif mode == 'test':
            dx = dout
        return dx
