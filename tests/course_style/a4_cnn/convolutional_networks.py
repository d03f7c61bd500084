"""
A second solution of convolutional_networks.py, written the way the course's starter code is
filled in (its names, signatures, defaults and habits): torch.nn.functional.pad in the naive
convolution, four nested loops, in-place accumulation, batchnorm caches as long tuples, the
batchnorm scales and shifts named bn_gamma{i} / bn_beta{i} (the course leaves those names to the
student), the course's save() and load(path, dtype, device), and the given fast layers written the
course's way (an nn.Conv2d with the weights as Parameters, backward through autograd).
Our additions to the course (im2col, layer and instance norm) are written in the same style.
WARNING: you SHOULD NOT use ".to()" or ".cuda()" in each implementation block.
"""
import torch
from eecs498.solver import Solver
from fully_connected_networks import Linear_ReLU, Linear, adam, ReLU, softmax_loss


def hello_convolutional_networks():
    """
    This is a sample function that we will try to import and run to ensure that
    our environment is correctly set up on Google Colab.
    """
    print('Hello from convolutional_networks.py!')


class Conv(object):

    @staticmethod
    def forward(x, w, b, conv_param):
        pad, stride = conv_param['pad'], conv_param['stride']
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        n_img, n_ch, height, width = x.shape
        n_filt, _, fh, fw = w.shape
        h_out = 1 + (height + 2 * pad - fh) // stride
        w_out = 1 + (width + 2 * pad - fw) // stride
        out = torch.zeros((n_img, n_filt, h_out, w_out), dtype=x.dtype, device=x.device)
        for n in range(n_img):
            for f in range(n_filt):
                for row in range(h_out):
                    for col in range(w_out):
                        top, left = row * stride, col * stride
                        patch = padded[n, :, top:top + fh, left:left + fw]
                        out[n, f, row, col] = torch.sum(patch * w[f]) + b[f]
        cache = (x, w, b, conv_param)
        return out, cache

    @staticmethod
    def backward(dout, cache):
        x, w, b, conv_param = cache
        pad, stride = conv_param['pad'], conv_param['stride']
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        n_filt, _, fh, fw = w.shape
        dpadded = torch.zeros_like(padded)
        dw = torch.zeros_like(w)
        for n in range(dout.shape[0]):
            for f in range(n_filt):
                for row in range(dout.shape[2]):
                    for col in range(dout.shape[3]):
                        top, left = row * stride, col * stride
                        g = dout[n, f, row, col]
                        dw[f] += g * padded[n, :, top:top + fh, left:left + fw]
                        dpadded[n, :, top:top + fh, left:left + fw] += g * w[f]
        dx = dpadded[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
        db = dout.sum(dim=(0, 2, 3))
        return dx, dw, db

    @staticmethod
    def forward_im2col(x, w, b, conv_param):
        pad, stride = conv_param['pad'], conv_param['stride']
        n_filt, _, fh, fw = w.shape
        columns = torch.nn.functional.unfold(x, (fh, fw), padding=pad, stride=stride)  # (N, C*fh*fw, L)
        h_out = 1 + (x.shape[2] + 2 * pad - fh) // stride
        w_out = 1 + (x.shape[3] + 2 * pad - fw) // stride
        flat = torch.einsum('fk,nkl->nfl', w.view(n_filt, -1), columns) + b.view(1, -1, 1)
        out = flat.view(x.shape[0], n_filt, h_out, w_out)
        cache = (x, w, b, conv_param, columns)
        return out, cache

    @staticmethod
    def backward_im2col(dout, cache):
        x, w, b, conv_param, columns = cache
        pad, stride = conv_param['pad'], conv_param['stride']
        n_filt, _, fh, fw = w.shape
        g = dout.flatten(2)  # (N, F, L)
        db = g.sum(dim=(0, 2))
        dw = torch.einsum('nfl,nkl->fk', g, columns).view(w.shape)
        dcolumns = torch.einsum('fk,nfl->nkl', w.view(n_filt, -1), g)
        dx = torch.nn.functional.fold(dcolumns, x.shape[2:], (fh, fw), padding=pad, stride=stride)
        return dx, dw, db


class MaxPool(object):

    @staticmethod
    def forward(x, pool_param):
        ph, pw = pool_param['pool_height'], pool_param['pool_width']
        stride = pool_param['stride']
        h_out = int(1 + (x.shape[2] - ph) / stride)
        w_out = int(1 + (x.shape[3] - pw) / stride)
        out = torch.empty((x.shape[0], x.shape[1], h_out, w_out), dtype=x.dtype, device=x.device)
        for row in range(h_out):
            for col in range(w_out):
                region = x[:, :, row * stride:row * stride + ph, col * stride:col * stride + pw]
                out[:, :, row, col] = region.flatten(2).max(dim=2).values
        cache = (x, pool_param)
        return out, cache

    @staticmethod
    def backward(dout, cache):
        x, pool_param = cache
        ph, pw = pool_param['pool_height'], pool_param['pool_width']
        stride = pool_param['stride']
        dx = torch.zeros_like(x)
        for row in range(dout.shape[2]):
            for col in range(dout.shape[3]):
                region = x[:, :, row * stride:row * stride + ph, col * stride:col * stride + pw]
                peak = region.flatten(2).max(dim=2, keepdim=True).values.unsqueeze(-1)
                mask = (region == peak).to(x.dtype)
                dx[:, :, row * stride:row * stride + ph, col * stride:col * stride + pw] += \
                    mask * dout[:, :, row, col][:, :, None, None]
        return dx


class ThreeLayerConvNet(object):

    def __init__(self,
                 input_dims=(3, 32, 32),
                 num_filters=32,
                 filter_size=7,
                 hidden_dim=100,
                 num_classes=10,
                 weight_scale=1e-3,
                 reg=0.0,
                 dtype=torch.float,
                 device='cpu'):
        self.params = {}
        self.reg = reg
        self.dtype = dtype
        C, H, W = input_dims
        flat = num_filters * (H // 2) * (W // 2)
        shapes = {'W1': (num_filters, C, filter_size, filter_size), 'W2': (flat, hidden_dim),
                  'W3': (hidden_dim, num_classes)}
        for key, shape in shapes.items():
            self.params[key] = torch.randn(shape, dtype=dtype, device=device) * weight_scale
        for key, size in (('b1', num_filters), ('b2', hidden_dim), ('b3', num_classes)):
            self.params[key] = torch.zeros(size, dtype=dtype, device=device)

    def save(self, path):
        checkpoint = {
          'reg': self.reg,
          'dtype': self.dtype,
          'params': self.params,
        }
        torch.save(checkpoint, path)
        print("Saved in {}".format(path))

    def load(self, path):
        checkpoint = torch.load(path, map_location='cpu')
        self.params = checkpoint['params']
        self.dtype = checkpoint['dtype']
        self.reg = checkpoint['reg']
        print("load checkpoint file: {}".format(path))

    def loss(self, X, y=None):
        X = X.to(self.dtype)
        W1, b1 = self.params['W1'], self.params['b1']
        W2, b2 = self.params['W2'], self.params['b2']
        W3, b3 = self.params['W3'], self.params['b3']
        filter_size = W1.shape[2]
        conv_param = {'stride': 1, 'pad': (filter_size - 1) // 2}
        pool_param = {'pool_height': 2, 'pool_width': 2, 'stride': 2}

        scores = None
        a1, c1 = Conv_ReLU_Pool.forward(X, W1, b1, conv_param, pool_param)
        a2, c2 = Linear_ReLU.forward(a1, W2, b2)
        scores, c3 = Linear.forward(a2, W3, b3)

        if y is None:
            return scores

        loss, grads = 0.0, {}
        loss, dscores = softmax_loss(scores, y)
        for W in (W1, W2, W3):
            loss += self.reg * (W ** 2).sum()
        da2, grads['W3'], grads['b3'] = Linear.backward(dscores, c3)
        da1, grads['W2'], grads['b2'] = Linear_ReLU.backward(da2, c2)
        _, grads['W1'], grads['b1'] = Conv_ReLU_Pool.backward(da1, c1)
        for key, W in (('W1', W1), ('W2', W2), ('W3', W3)):
            grads[key] += 2 * self.reg * W
        return loss, grads


class DeepConvNet(object):

    def __init__(self,
                 input_dims=(3, 32, 32),
                 num_filters=[8, 8, 8, 8, 8],
                 max_pools=[0, 1, 2, 3, 4],
                 batchnorm=False,
                 num_classes=10,
                 weight_scale=1e-3,
                 reg=0.0,
                 weight_initializer=None,
                 dtype=torch.float,
                 device='cpu'):
        self.params = {}
        self.num_layers = len(num_filters) + 1
        self.max_pools = max_pools
        self.batchnorm = batchnorm
        self.reg = reg
        self.dtype = dtype

        if device == 'cuda':
            device = 'cuda:0'

        if weight_initializer is None and weight_scale == 'kaiming':
            weight_initializer = kaiming_initializer
        channels = [input_dims[0]] + list(num_filters)
        for i in range(len(num_filters)):
            if weight_initializer is None:
                weight = weight_scale * torch.randn((channels[i + 1], channels[i], 3, 3), dtype=dtype,
                                                    device=device)
            else:
                weight = weight_initializer(channels[i], channels[i + 1], K=3, relu=True, device=device,
                                            dtype=dtype)
            self.params['W%d' % (i + 1)] = weight
            self.params['b%d' % (i + 1)] = torch.zeros(channels[i + 1], dtype=dtype, device=device)
            if batchnorm:
                self.params['bn_gamma%d' % (i + 1)] = torch.ones(channels[i + 1], dtype=dtype, device=device)
                self.params['bn_beta%d' % (i + 1)] = torch.zeros(channels[i + 1], dtype=dtype, device=device)
        shrink = 2 ** len(max_pools)
        d_in = channels[-1] * (input_dims[1] // shrink) * (input_dims[2] // shrink)
        if weight_initializer is None:
            last = weight_scale * torch.randn((d_in, num_classes), dtype=dtype, device=device)
        else:
            last = weight_initializer(d_in, num_classes, relu=False, device=device, dtype=dtype)
        self.params['W%d' % self.num_layers] = last
        self.params['b%d' % self.num_layers] = torch.zeros(num_classes, dtype=dtype, device=device)

        self.bn_params = []
        if self.batchnorm:
            self.bn_params = [{'mode': 'train'}
                              for _ in range(len(num_filters))]

        if not self.batchnorm:
            params_per_macro_layer = 2
        else:
            params_per_macro_layer = 4
        num_params = params_per_macro_layer * len(num_filters) + 2
        msg = 'self.params has the wrong number of ' \
              'elements. Got %d; expected %d'
        msg = msg % (len(self.params), num_params)
        assert len(self.params) == num_params, msg

        for k, param in self.params.items():
            msg = 'param "%s" has device %r; should be %r' \
                  % (k, param.device, device)
            assert param.device == torch.device(device), msg
            msg = 'param "%s" has dtype %r; should be %r' \
                  % (k, param.dtype, dtype)
            assert param.dtype == dtype, msg

    def save(self, path):
        checkpoint = {
          'reg': self.reg,
          'dtype': self.dtype,
          'params': self.params,
          'num_layers': self.num_layers,
          'max_pools': self.max_pools,
          'batchnorm': self.batchnorm,
          'bn_params': self.bn_params,
        }
        torch.save(checkpoint, path)
        print("Saved in {}".format(path))

    def load(self, path, dtype, device):
        checkpoint = torch.load(path, map_location='cpu')
        self.params = checkpoint['params']
        self.dtype = dtype
        self.reg = checkpoint['reg']
        self.num_layers = checkpoint['num_layers']
        self.max_pools = checkpoint['max_pools']
        self.batchnorm = checkpoint['batchnorm']
        self.bn_params = checkpoint['bn_params']
        for p in self.params:
            self.params[p] = self.params[p].type(dtype).to(device)
        for i in range(len(self.bn_params)):
            for p in ["running_mean", "running_var"]:
                self.bn_params[i][p] = self.bn_params[i][p].type(dtype).to(device)
        print("load checkpoint file: {}".format(path))

    def loss(self, X, y=None):
        X = X.to(self.dtype)
        mode = 'test' if y is None else 'train'

        if self.batchnorm:
            for bn_param in self.bn_params:
                bn_param['mode'] = mode
        scores = None

        filter_size = 3
        conv_param = {'stride': 1, 'pad': (filter_size - 1) // 2}
        pool_param = {'pool_height': 2, 'pool_width': 2, 'stride': 2}

        history = []
        out = X
        for layer in range(1, self.num_layers):
            weight, bias = self.params['W%d' % layer], self.params['b%d' % layer]
            pooled = (layer - 1) in self.max_pools
            if self.batchnorm:
                scale = self.params['bn_gamma%d' % layer]
                shift = self.params['bn_beta%d' % layer]
                bn_param = self.bn_params[layer - 1]
                if pooled:
                    out, cache = Conv_BatchNorm_ReLU_Pool.forward(out, weight, bias, scale, shift, conv_param,
                                                                  bn_param, pool_param)
                else:
                    out, cache = Conv_BatchNorm_ReLU.forward(out, weight, bias, scale, shift, conv_param, bn_param)
            elif pooled:
                out, cache = Conv_ReLU_Pool.forward(out, weight, bias, conv_param, pool_param)
            else:
                out, cache = Conv_ReLU.forward(out, weight, bias, conv_param)
            history.append(cache)
        scores, cache = Linear.forward(out, self.params['W%d' % self.num_layers],
                                       self.params['b%d' % self.num_layers])
        history.append(cache)

        if y is None:
            return scores

        loss, grads = 0, {}
        loss, dout = softmax_loss(scores, y)
        for key, value in self.params.items():
            if key.startswith('W'):
                loss += self.reg * torch.sum(value * value)
        top = self.num_layers
        dout, grads['W%d' % top], grads['b%d' % top] = Linear.backward(dout, history.pop())
        for layer in range(top - 1, 0, -1):
            cache = history.pop()
            pooled = (layer - 1) in self.max_pools
            if self.batchnorm:
                sandwich = Conv_BatchNorm_ReLU_Pool if pooled else Conv_BatchNorm_ReLU
                (dout, grads['W%d' % layer], grads['b%d' % layer], grads['bn_gamma%d' % layer],
                 grads['bn_beta%d' % layer]) = sandwich.backward(dout, cache)
            else:
                sandwich = Conv_ReLU_Pool if pooled else Conv_ReLU
                dout, grads['W%d' % layer], grads['b%d' % layer] = sandwich.backward(dout, cache)
        for key in grads:
            if key.startswith('W'):
                grads[key] += 2 * self.reg * self.params[key]
        return loss, grads


def find_overfit_parameters():
    weight_scale = 2e-3   # Experiment with this!
    learning_rate = 1e-5  # Experiment with this!
    weight_scale = 0.25
    learning_rate = 1.5e-3
    return weight_scale, learning_rate


def create_convolutional_solver_instance(data_dict, dtype, device):
    model = None
    solver = None
    input_dims = data_dict['X_train'].shape[1:]
    model = DeepConvNet(input_dims=input_dims, num_classes=10, num_filters=[8, 16, 32], max_pools=[0, 1, 2],
                        batchnorm=True, weight_scale='kaiming', reg=1e-5, dtype=dtype, device=device)
    solver = Solver(model, data_dict, num_epochs=10, batch_size=64, update_rule=adam,
                    optim_config={'learning_rate': 2e-3}, lr_decay=0.9, print_every=200, device=device)
    return solver


def kaiming_initializer(Din, Dout, K=None, relu=True, device='cpu',
                        dtype=torch.float32):
    gain = 2. if relu else 1.
    weight = None
    if K is None:
        weight = torch.randn((Din, Dout), dtype=dtype, device=device) * torch.sqrt(torch.tensor(gain / Din))
    else:
        fan_in = Din * K * K
        weight = torch.randn((Dout, Din, K, K), dtype=dtype, device=device) * (gain / fan_in) ** 0.5
    return weight


class BatchNorm(object):

    @staticmethod
    def forward(x, gamma, beta, bn_param):
        mode = bn_param['mode']
        eps = bn_param.get('eps', 1e-5)
        momentum = bn_param.get('momentum', 0.9)

        N, D = x.shape
        running_mean = bn_param.get('running_mean',
                                    torch.zeros(D,
                                                dtype=x.dtype,
                                                device=x.device))
        running_var = bn_param.get('running_var',
                                   torch.zeros(D,
                                               dtype=x.dtype,
                                               device=x.device))

        out, cache = None, None
        if mode == 'train':
            mu = torch.sum(x, dim=0) / N
            xc = x - mu
            sigma2 = torch.sum(xc * xc, dim=0) / N
            root = (sigma2 + eps).sqrt()
            inv_root = 1.0 / root
            xn = xc * inv_root
            out = xn * gamma + beta
            running_mean = momentum * running_mean + (1 - momentum) * mu
            running_var = momentum * running_var + (1 - momentum) * sigma2
            cache = (x, xn, xc, mu, sigma2, root, inv_root, gamma, eps)
        elif mode == 'test':
            out = gamma * (x - running_mean) / (running_var + eps).sqrt() + beta
        else:
            raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

        bn_param['running_mean'] = running_mean.detach()
        bn_param['running_var'] = running_var.detach()

        return out, cache

    @staticmethod
    def backward(dout, cache):
        x, xn, xc, mu, sigma2, root, inv_root, gamma, eps = cache
        N = dout.shape[0]
        dbeta = torch.sum(dout, dim=0)
        dgamma = torch.sum(dout * xn, dim=0)
        dxn = dout * gamma
        dinv_root = torch.sum(dxn * xc, dim=0)
        dxc = dxn * inv_root
        droot = -dinv_root / (root * root)
        dsigma2 = droot * 0.5 / root
        dxc += 2.0 * xc * dsigma2 / N
        dmu = -torch.sum(dxc, dim=0)
        dx = dxc + dmu / N
        return dx, dgamma, dbeta

    @staticmethod
    def backward_alt(dout, cache):
        x, xn, xc, mu, sigma2, root, inv_root, gamma, eps = cache
        N = dout.shape[0]
        dbeta = dout.sum(dim=0)
        dgamma = (dout * xn).sum(dim=0)
        dx = (gamma * inv_root / N) * (N * dout - dbeta - xn * dgamma)
        return dx, dgamma, dbeta


class SpatialBatchNorm(object):

    @staticmethod
    def forward(x, gamma, beta, bn_param):
        N, C, H, W = x.shape
        rows = x.movedim(1, -1).reshape(N * H * W, C)
        out, cache = BatchNorm.forward(rows, gamma, beta, bn_param)
        out = out.reshape(N, H, W, C).movedim(-1, 1)
        return out, cache

    @staticmethod
    def backward(dout, cache):
        N, C, H, W = dout.shape
        drows, dgamma, dbeta = BatchNorm.backward(dout.movedim(1, -1).reshape(-1, C), cache)
        dx = drows.reshape(N, H, W, C).movedim(-1, 1)
        return dx, dgamma, dbeta


def _stats_over(x, dims, eps):
    count = 1
    for d in dims:
        count *= x.shape[d]
    mu = x.sum(dim=dims, keepdim=True) / count
    xc = x - mu
    inv = (torch.sum(xc * xc, dim=dims, keepdim=True) / count + eps).rsqrt()
    return xc * inv, inv, count


def _shape_of_channel(p, x):
    view = [1] * x.dim()
    view[1] = -1
    return p.view(view)


class LayerNorm(object):

    @staticmethod
    def forward(x, gamma, beta, ln_param):
        eps = ln_param.get('eps', 1e-5)
        dims = tuple(range(1, x.dim()))
        xn, inv, count = _stats_over(x, dims, eps)
        out = _shape_of_channel(gamma, x) * xn + _shape_of_channel(beta, x)
        return out, (xn, inv, count, dims, gamma)

    @staticmethod
    def backward(dout, cache):
        xn, inv, count, dims, gamma = cache
        keep = [d for d in range(dout.dim()) if d != 1]
        dbeta = dout.sum(dim=keep)
        dgamma = (dout * xn).sum(dim=keep)
        g = dout * _shape_of_channel(gamma, dout)
        dx = inv * (g - g.sum(dim=dims, keepdim=True) / count
                    - xn * (g * xn).sum(dim=dims, keepdim=True) / count)
        return dx, dgamma, dbeta


class InstanceNorm(object):

    @staticmethod
    def forward(x, gamma, beta, in_param):
        eps = in_param.get('eps', 1e-5)
        dims = tuple(range(2, x.dim()))
        xn, inv, count = _stats_over(x, dims, eps)
        out = _shape_of_channel(gamma, x) * xn + _shape_of_channel(beta, x)
        return out, (xn, inv, count, dims, gamma)

    @staticmethod
    def backward(dout, cache):
        xn, inv, count, dims, gamma = cache
        keep = [0] + list(dims)
        dbeta = dout.sum(dim=keep)
        dgamma = (dout * xn).sum(dim=keep)
        g = dout * _shape_of_channel(gamma, dout)
        dx = inv * (g - g.mean(dim=dims, keepdim=True) - xn * (g * xn).mean(dim=dims, keepdim=True))
        return dx, dgamma, dbeta


##################################################################
#           Fast Implementations and Sandwich Layers             #
##################################################################


class FastConv(object):

    @staticmethod
    def forward(x, w, b, conv_param):
        stride, pad = conv_param['stride'], conv_param['pad']
        layer = torch.nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=stride, padding=pad)
        layer.weight = torch.nn.Parameter(w)
        layer.bias = torch.nn.Parameter(b)
        tx = x.detach()
        tx.requires_grad = True
        out = layer(tx)
        return out, (x, w, b, conv_param, tx, out, layer)

    @staticmethod
    def backward(dout, cache):
        try:
            x, _, _, _, tx, out, layer = cache
            out.backward(dout)
            dx, dw, db = tx.grad.detach(), layer.weight.grad.detach(), layer.bias.grad.detach()
            layer.weight.grad = layer.bias.grad = None
        except RuntimeError:
            dx, dw, db = torch.zeros_like(tx), torch.zeros_like(layer.weight), torch.zeros_like(layer.bias)
        return dx, dw, db


class FastMaxPool(object):

    @staticmethod
    def forward(x, pool_param):
        layer = torch.nn.MaxPool2d(kernel_size=(pool_param['pool_height'], pool_param['pool_width']),
                                   stride=pool_param['stride'])
        tx = x.detach()
        tx.requires_grad = True
        out = layer(tx)
        return out, (x, pool_param, tx, out, layer)

    @staticmethod
    def backward(dout, cache):
        try:
            x, _, tx, out, layer = cache
            out.backward(dout)
            dx = tx.grad.detach()
        except RuntimeError:
            dx = torch.zeros_like(tx)
        return dx


class Conv_ReLU(object):

    @staticmethod
    def forward(x, w, b, conv_param):
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        out, relu_cache = ReLU.forward(a)
        return out, (conv_cache, relu_cache)

    @staticmethod
    def backward(dout, cache):
        conv_cache, relu_cache = cache
        return FastConv.backward(ReLU.backward(dout, relu_cache), conv_cache)


class Conv_ReLU_Pool(object):

    @staticmethod
    def forward(x, w, b, conv_param, pool_param):
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        s, relu_cache = ReLU.forward(a)
        out, pool_cache = FastMaxPool.forward(s, pool_param)
        return out, (conv_cache, relu_cache, pool_cache)

    @staticmethod
    def backward(dout, cache):
        conv_cache, relu_cache, pool_cache = cache
        ds = FastMaxPool.backward(dout, pool_cache)
        return FastConv.backward(ReLU.backward(ds, relu_cache), conv_cache)


class Linear_BatchNorm_ReLU(object):

    @staticmethod
    def forward(x, w, b, gamma, beta, bn_param):
        a, fc_cache = Linear.forward(x, w, b)
        a_bn, bn_cache = BatchNorm.forward(a, gamma, beta, bn_param)
        out, relu_cache = ReLU.forward(a_bn)
        return out, (fc_cache, bn_cache, relu_cache)

    @staticmethod
    def backward(dout, cache):
        fc_cache, bn_cache, relu_cache = cache
        da, dgamma, dbeta = BatchNorm.backward(ReLU.backward(dout, relu_cache), bn_cache)
        dx, dw, db = Linear.backward(da, fc_cache)
        return dx, dw, db, dgamma, dbeta


class Conv_BatchNorm_ReLU(object):

    @staticmethod
    def forward(x, w, b, gamma, beta, conv_param, bn_param):
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        an, bn_cache = SpatialBatchNorm.forward(a, gamma, beta, bn_param)
        out, relu_cache = ReLU.forward(an)
        return out, (conv_cache, bn_cache, relu_cache)

    @staticmethod
    def backward(dout, cache):
        conv_cache, bn_cache, relu_cache = cache
        da, dgamma, dbeta = SpatialBatchNorm.backward(ReLU.backward(dout, relu_cache), bn_cache)
        dx, dw, db = FastConv.backward(da, conv_cache)
        return dx, dw, db, dgamma, dbeta


class Conv_BatchNorm_ReLU_Pool(object):

    @staticmethod
    def forward(x, w, b, gamma, beta, conv_param, bn_param, pool_param):
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        an, bn_cache = SpatialBatchNorm.forward(a, gamma, beta, bn_param)
        s, relu_cache = ReLU.forward(an)
        out, pool_cache = FastMaxPool.forward(s, pool_param)
        return out, (conv_cache, bn_cache, relu_cache, pool_cache)

    @staticmethod
    def backward(dout, cache):
        conv_cache, bn_cache, relu_cache, pool_cache = cache
        ds = FastMaxPool.backward(dout, pool_cache)
        da, dgamma, dbeta = SpatialBatchNorm.backward(ReLU.backward(ds, relu_cache), bn_cache)
        dx, dw, db = FastConv.backward(da, conv_cache)
        return dx, dw, db, dgamma, dbeta
